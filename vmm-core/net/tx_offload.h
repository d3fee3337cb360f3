// What a NIC does to a frame the guest asked it to finish: checksums the
// guest left to the device, a VLAN tag to insert, and TCP segmentation
// (TSO/LSO). Sans I/O: bytes in, frames out. Used by the MANA emulator
// (vmm-core/mana) and, for netvsc's LSO and checksum per-packet info, by
// netvsp in hcl.
//
// Checksums follow Linux's CHECKSUM_PARTIAL contract, which MANA and NDIS
// both expose to drivers (mana-netvsc.md §3 "TX OOB"): the L4 checksum
// field already holds the pseudo-header sum, the device sums the segment
// from the L4 header to the end and stores the complement. Segmentation
// recomputes every header from scratch, so it does not depend on what the
// driver left in the length and checksum fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/result.h"

namespace net {

struct TxChecksumRequest {
  bool ipv4_header = false;  // compute the IPv4 header checksum
  bool tcp = false;          // complete the TCP checksum at l4_offset
  bool udp = false;          // complete the UDP checksum at l4_offset
  size_t l4_offset = 0;      // the driver's transport offset
};

// Finishes the checksums asked for, in place. An offset or header that
// does not fit the frame is an Error (the frame is not sent).
base::Result<void> CompleteChecksums(std::span<std::byte> frame, const TxChecksumRequest& request);

// Inserts an 802.1Q tag (TPID 0x8100, `tci`) after the MAC addresses.
base::Result<void> InsertVlanTag(std::vector<std::byte>& frame, uint16_t tci);

// TCP segmentation offload: splits `frame` (Ethernet, IPv4 or IPv6
// without extension headers, TCP) into frames of at most `mss` payload
// bytes, each with its own IP length, IPv4 ID (+1 per segment), IPv4
// header checksum, sequence number, TCP checksum; FIN and PSH only on the
// last segment, CWR only on the first. `emit` gets each segment.
// A frame that is not TCP, an MSS of 0 or one that would exceed 64 KiB
// segments is an Error (nothing emitted).
base::Result<void> SegmentTcp(std::span<const std::byte> frame, uint32_t mss,
                              const std::function<void(std::span<const std::byte>)>& emit);

}  // namespace net
