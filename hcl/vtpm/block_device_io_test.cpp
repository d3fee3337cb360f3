// BlockDeviceIo over a block device whose buffers are DMA addresses, as
// hcl's NVMe namespace is: odd offsets and lengths keep the neighbouring
// bytes, and the guest-state store runs over it unchanged.
#include "vtpm/block_device_io.h"

#include <doctest/doctest.h>

#include <vector>

#include "nvme/driver/testing/fake_dma_pool.h"
#include "nvme/testing/fake_block_device.h"
#include "nvme/testing/fake_dma_memory.h"
#include "vtpm/guest_state.h"

namespace {

struct Rig {
  nvme::testing::FakeDmaMemory memory{0x100000, 256 * 1024};
  nvme::driver::testing::FakeDmaPool pool{memory, 0x100000, 256 * 1024};
  nvme::testing::FakeBlockDevice device{memory, Geometry(), nvme::testing::FakeBlockDevice::Mode::kInline};

  static block::Geometry Geometry() {
    block::Geometry g;
    g.block_size = 512;
    g.block_count = 2048;  // 1 MiB
    return g;
  }
};

TEST_CASE("block device io: unaligned reads and writes keep the bytes around them") {
  Rig rig;
  auto io = hcl::vtpm::BlockDeviceIo::Create(rig.device, rig.pool);
  REQUIRE(io.ok());
  CHECK((**io).size_bytes() == 1u << 20);
  std::vector<std::byte> fill(100000, std::byte{0x11});
  REQUIRE((**io).Write(0, fill).ok());
  std::vector<std::byte> patch(40000);
  for (size_t i = 0; i < patch.size(); ++i) patch[i] = std::byte(static_cast<uint8_t>(i * 7 + 3));
  REQUIRE((**io).Write(777, patch).ok());  // spans two staging buffers, odd ends
  std::vector<std::byte> back(100000);
  REQUIRE((**io).Read(0, back).ok());
  for (size_t i = 0; i < back.size(); ++i) {
    const std::byte want = i >= 777 && i < 777 + patch.size() ? patch[i - 777] : std::byte{0x11};
    if (back[i] != want) FAIL("byte " << i << " differs");
  }
  std::vector<std::byte> small(3);
  REQUIRE((**io).Read(776, small).ok());
  CHECK(small[0] == std::byte{0x11});
  CHECK(small[1] == patch[0]);
  CHECK_FALSE((**io).Read((1u << 20) - 1, small).ok());  // past the end
  CHECK((**io).Flush().ok());
}

TEST_CASE("block device io: a failing device fails the store's write, not the process") {
  Rig rig;
  auto io = hcl::vtpm::BlockDeviceIo::Create(rig.device, rig.pool);
  REQUIRE(io.ok());
  auto store = hcl::vtpm::GuestStateStore::Open(**io, hcl::vtpm::PlatformKey{7});
  REQUIRE(store.ok());
  REQUIRE((**store).Store("permall", std::vector<std::byte>(70000, std::byte{5})).ok());
  rig.device.forced_status = block::Status::kMediaError;
  CHECK_FALSE((**store).Store("permall", std::vector<std::byte>(10, std::byte{6})).ok());
  rig.device.forced_status.reset();
  auto reopened = hcl::vtpm::GuestStateStore::Open(**io, hcl::vtpm::PlatformKey{7});
  REQUIRE(reopened.ok());
  CHECK((**(**reopened).Load("permall")).size() == 70000);
}

}  // namespace
