// Test frames for the offload and NIC tests: one Ethernet/IPv4/TCP frame
// as a guest's stack hands it to a NIC.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/be_bytes.h"
#include "net/checksum.h"

namespace net::testing {

// 10.0.2.15:40000 -> 10.0.2.2:5201, `payload` bytes of a counting
// pattern, TCP `flags`, checksums left zero. `for_lso`: the IP total length
// zero too, as Linux hands a segmentation offload's frame over (the device
// fills it in per segment).
inline std::vector<std::byte> TcpFrame(size_t payload, uint8_t flags = 0x18,
                                       bool for_lso = false) {
  std::vector<std::byte> frame(14 + 20 + 20 + payload);
  const std::span<std::byte> f(frame);
  base::StoreBe<uint16_t>(f, 12, kEtherTypeIpv4);
  f[14] = std::byte{0x45};
  if (!for_lso) base::StoreBe<uint16_t>(f, 16, static_cast<uint16_t>(40 + payload));
  base::StoreBe<uint16_t>(f, 18, 0x1234);
  f[22] = std::byte{64};
  f[23] = std::byte{kProtocolTcp};
  const uint8_t source[4] = {10, 0, 2, 15}, destination[4] = {10, 0, 2, 2};
  for (size_t i = 0; i < 4; ++i) {
    f[26 + i] = std::byte{source[i]};
    f[30 + i] = std::byte{destination[i]};
  }
  base::StoreBe<uint16_t>(f, 34, 40000);
  base::StoreBe<uint16_t>(f, 36, 5201);
  base::StoreBe<uint32_t>(f, 38, 1000);
  f[46] = std::byte{0x50};  // data offset 5 words
  f[47] = std::byte{flags};
  for (size_t i = 0; i < payload; ++i) f[54 + i] = std::byte(static_cast<uint8_t>(i * 7));
  return frame;
}

}  // namespace net::testing
