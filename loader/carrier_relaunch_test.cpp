#include "carrier_relaunch.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace {

// A plan for img.igvm with `args` (the image at index 1), run through "cr".
loader::CarrierPlan SmallPlan(std::vector<std::string> args) {
  loader::CarrierPlan plan;
  plan.carrier_run = "cr";
  plan.loader = "/b/hcl-loader";
  plan.image = "img.igvm";
  plan.args = std::move(args);
  plan.image_arg = 1;
  return plan;
}

bool Has(const std::vector<std::string>& argv, const std::string& value) {
  return std::find(argv.begin(), argv.end(), value) != argv.end();
}

}  // namespace

TEST_CASE("CarrierCommand carries the loader, the image and the same arguments") {
  loader::CarrierPlan plan;
  plan.carrier_run = "/src/tests/harness/carrier-run";
  plan.kvm_probe = "/b/tests/harness/kvm-probe";
  plan.loader = "/b/loader/hcl-loader";
  plan.image = "build/openhcl-x64.igvm";
  plan.args = {"run", "build/openhcl-x64.igvm", "--vps", "4", "--timeout", "60"};
  plan.image_arg = 1;
  plan.guest_mem_mib = 256;
  plan.timeout_s = 60;
  const std::vector<std::string> want = {"/src/tests/harness/carrier-run",
                                         "--mode",
                                         "carrier",
                                         "--kvm-probe",
                                         "/b/tests/harness/kvm-probe",
                                         "--timeout",
                                         "360",
                                         "--mem",
                                         "2048",
                                         "--smp",
                                         "1",
                                         "--add-elf",
                                         "/b/loader/hcl-loader:/payload/hcl-loader",
                                         "--add",
                                         "build/openhcl-x64.igvm:/payload/image/openhcl-x64.igvm",
                                         "--",
                                         "/payload/hcl-loader",
                                         "run",
                                         "/payload/image/openhcl-x64.igvm",
                                         "--vps",
                                         "4",
                                         "--timeout",
                                         "60"};
  CHECK(loader::CarrierCommand(plan) == want);
}

TEST_CASE("CarrierCommand sizes the carrier for large guests and runs without a limit") {
  loader::CarrierPlan plan;
  plan.carrier_run = "cr";
  plan.loader = "l";
  plan.image = "i.igvm";
  plan.args = {"run", "i.igvm", "--mem", "3072"};
  plan.image_arg = 1;
  plan.guest_mem_mib = 3072;
  const std::vector<std::string> command = loader::CarrierCommand(plan);
  const std::vector<std::string> want = {"cr",
                                         "--mode",
                                         "carrier",
                                         "--timeout",
                                         "604800",
                                         "--mem",
                                         "4096",
                                         "--smp",
                                         "1",
                                         "--add-elf",
                                         "l:/payload/hcl-loader",
                                         "--add",
                                         "i.igvm:/payload/image/i.igvm",
                                         "--",
                                         "/payload/hcl-loader",
                                         "run",
                                         "/payload/image/i.igvm",
                                         "--mem",
                                         "3072"};
  CHECK(command == want);
}

TEST_CASE("CarrierCommand copies file arguments into the carrier and rewrites them") {
  loader::CarrierPlan plan =
      SmallPlan({"run", "img.igvm", "--vtl0-kernel", "/k/vmlinuz", "--vtl0-initrd", "/i/vmlinuz"});
  plan.file_args = {3, 5};
  const std::vector<std::string> argv = loader::CarrierCommand(plan);
  CHECK(Has(argv, "/k/vmlinuz:/payload/files/0-vmlinuz"));
  CHECK(Has(argv, "/i/vmlinuz:/payload/files/1-vmlinuz"));  // same base name, no collision
  const std::vector<std::string> tail(argv.end() - 6, argv.end());
  CHECK(tail == std::vector<std::string>{"run", "/payload/image/img.igvm", "--vtl0-kernel",
                                         "/payload/files/0-vmlinuz", "--vtl0-initrd",
                                         "/payload/files/1-vmlinuz"});
}

TEST_CASE("CarrierCommand: the carrier has one vCPU, whatever the VP count") {
  const std::vector<std::string> argv = loader::CarrierCommand(SmallPlan({"run", "img.igvm", "--vps", "4"}));
  const auto at = std::find(argv.begin(), argv.end(), "--smp");
  REQUIRE(at != argv.end());
  CHECK(*(at + 1) == "1");
}

TEST_CASE("CarrierCommand: disks become virtio drives of the carrier, in order") {
  loader::CarrierPlan plan =
      SmallPlan({"run", "img.igvm", "--disk", "/d/a,b.img", "--disk-vtl0", "/d/c.img,ro"});
  plan.disk_args = {3, 5};
  const std::vector<std::string> argv = loader::CarrierCommand(plan);
  CHECK(Has(argv, "file=/d/a,,b.img,if=virtio,format=raw,cache=writeback"));
  CHECK(Has(argv, "file=/d/c.img,if=virtio,format=raw,cache=writeback,readonly=on"));
  CHECK(Has(argv, "virtio_blk"));
  const std::vector<std::string> tail(argv.end() - 6, argv.end());
  CHECK(tail == std::vector<std::string>{"run", "/payload/image/img.igvm", "--disk", "/dev/vda",
                                         "--disk-vtl0", "/dev/vdb,ro"});
  // With the files' whole-block sizes known, the carrier's disks show just
  // those (QEMU would round a partial last block up).
  plan.disk_bytes = {1024, 4096};
  const std::vector<std::string> sized = loader::CarrierCommand(plan);
  CHECK(Has(sized, "file=/d/a,,b.img,if=virtio,format=raw,cache=writeback,size=1024"));
  CHECK(Has(sized, "file=/d/c.img,if=virtio,format=raw,cache=writeback,size=4096,readonly=on"));
}

TEST_CASE("CarrierCommand: hostfwd ports open on this host and reach the carrier's loader") {
  loader::CarrierPlan plan = SmallPlan(
      {"run", "img.igvm", "--nic", "user,hostfwd=tcp:127.0.0.1:5555-:22,hostfwd=udp::5353-10.0.2.16:53",
       "--nic-vtl0", "user,hostfwd=tcp::8080-10.0.2.15:80", "--vps", "2"});
  plan.nic_args = {3, 5};
  const std::vector<std::string> argv = loader::CarrierCommand(plan);
  // One --hostfwd each, in order: the user's host address and port, to the
  // same port on the carrier.
  std::vector<std::string> forwards;
  for (size_t i = 0; i + 1 < argv.size() && argv[i] != "--"; ++i)
    if (argv[i] == "--hostfwd") forwards.push_back(argv[i + 1]);
  CHECK(forwards == std::vector<std::string>{"tcp:127.0.0.1:5555-:5555", "udp::5353-:5353",
                                             "tcp::8080-:8080"});
  // Inside, the loader listens on every carrier address, guest side as given.
  const std::vector<std::string> tail(argv.end() - 8, argv.end());
  CHECK(tail == std::vector<std::string>{
                    "run", "/payload/image/img.igvm", "--nic",
                    "user,hostfwd=tcp:0.0.0.0:5555-:22,hostfwd=udp:0.0.0.0:5353-10.0.2.16:53",
                    "--nic-vtl0", "user,hostfwd=tcp:0.0.0.0:8080-10.0.2.15:80", "--vps", "2"});
}

TEST_CASE("CarrierCommand: a NIC without forwards or a tap changes nothing") {
  loader::CarrierPlan plan = SmallPlan({"run", "img.igvm", "--nic", "user", "--nic-vtl0", "tap=tap0"});
  plan.nic_args = {3, 5};
  const std::vector<std::string> argv = loader::CarrierCommand(plan);
  CHECK_FALSE(Has(argv, "--hostfwd"));
  const std::vector<std::string> tail(argv.end() - 6, argv.end());
  CHECK(tail == std::vector<std::string>{"run", "/payload/image/img.igvm", "--nic", "user",
                                         "--nic-vtl0", "tap=tap0"});
}
