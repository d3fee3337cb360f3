#include "vp_group.h"

#include <doctest/doctest.h>

#include <pthread.h>

#include <thread>

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

TEST_CASE("VpGroup: a VTL2 interrupt is remembered only where the VP would miss it") {
  loader::VpGroup group(1);
  group.SetThread(0, pthread_self());  // this test's thread is VP 0's
  // Raised by the VP's own thread while it runs VTL2: VTL2's next run
  // takes it, nothing to remember.
  group.RaisedVtl2Interrupt(0);
  CHECK_FALSE(group.TakeVtl2Interrupt(0));
  // Raised while the VP is in VTL0 (its own VTL0 signal): remembered, and
  // taken once.
  group.NoteVtl0(0, true);
  group.RaisedVtl2Interrupt(0);
  CHECK(group.TakeVtl2Interrupt(0));
  CHECK_FALSE(group.TakeVtl2Interrupt(0));
  // Raised by another thread (a device's completion) while the VP runs
  // VTL2: remembered, since the VP may be on its way back to VTL0 (no kick
  // is sent while it is in VTL2).
  group.NoteVtl0(0, false);
  std::thread([&group] { group.RaisedVtl2Interrupt(0); }).join();
  CHECK(group.TakeVtl2Interrupt(0));
  // Out of range: ignored.
  group.RaisedVtl2Interrupt(7);
}
