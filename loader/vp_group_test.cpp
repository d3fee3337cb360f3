#include "vp_group.h"

#include <doctest/doctest.h>

TEST_CASE("VpGroup: the first stop wins") {
  loader::VpGroup group(2);
  CHECK(!group.stop_requested());
  group.RequestStop({loader::StopReason::kPoweredOff, 1, ""});
  group.RequestStop({loader::StopReason::kTimedOut, 0, ""});
  CHECK(group.stop_requested());
  REQUIRE(group.stop().has_value());
  CHECK(group.stop()->reason == loader::StopReason::kPoweredOff);
  CHECK(group.stop()->vp == 1);
}

TEST_CASE("VpGroup: a pause is asked for only when every VP is parked") {
  loader::VpGroup group(2);
  group.NoteParked(0);
  CHECK(!group.pause_requested());
  group.NoteParked(1);
  CHECK(group.pause_requested());
}

TEST_CASE("VpGroup: one VP parked in the pause halts the machine") {
  loader::VpGroup group(1);
  group.NoteParked(0);
  REQUIRE(group.pause_requested());
  group.WaitInPause(true);
  REQUIRE(group.stop().has_value());
  CHECK(group.stop()->reason == loader::StopReason::kHalted);
}

TEST_CASE("VpGroup: a VP found running in the pause ends it without a stop") {
  loader::VpGroup group(1);
  group.NoteParked(0);
  group.NoteRunning(0);  // woken meanwhile
  group.WaitInPause(false);
  CHECK(!group.stop_requested());
  CHECK(!group.pause_requested());
}
