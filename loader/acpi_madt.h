// The ACPI Multiple APIC Description Table the loader hands VTL2 through
// the IGVM MADT parameter (ACPI 6.5 §5.2.12).
//
// One processor entry per VP, with APIC ID = VP index (the KVM vCPU id):
// a Processor Local APIC structure (§5.2.12.2) while the ID fits in 8 bits
// below 0xFF, a Processor Local x2APIC structure (§5.2.12.12) beyond. An
// I/O APIC entry (§5.2.12.3) when the machine has one: hcl-loader's does
// (KVM's in-kernel IOAPIC, 24 pins at 0xFEC00000, GSI n = pin n, ISA IRQs
// identity-mapped, so no Interrupt Source Overrides).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "base/result.h"

namespace loader {

struct IoApicConfig {
  uint8_t id = 0;
  uint32_t address = 0xFEC00000;  // the conventional PC I/O APIC base
  uint32_t gsi_base = 0;
};

struct MadtConfig {
  uint32_t vp_count = 1;
  uint32_t local_apic_address = 0xFEE00000;  // SDM vol. 3A §11.4.1, the reset base
  std::optional<IoApicConfig> io_apic;
};

inline constexpr size_t kAcpiHeaderBytes = 36;  // ACPI 6.5 §5.2.6, Table 5.4

// Bytes the table will take.
base::Result<size_t> MadtSize(const MadtConfig& config);
// Writes the table at the start of `out`; returns its length.
base::Result<size_t> WriteMadt(std::span<std::byte> out, const MadtConfig& config);

// ACPI 6.5 §5.2.6: "the entire table, including the checksum field, must
// add to zero". Exposed for tests and other table builders.
uint8_t AcpiChecksum(std::span<const std::byte> table);

}  // namespace loader
