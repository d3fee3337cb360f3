// Where things are in VTL2 memory, relative to the image base (the shim's
// own load address). igvm/openhcl-x64.json.in places them there; the test
// bootloader/test-layout checks the two agree.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shim::layout {

inline constexpr uint64_t kStaticCommandLine = 0x10000;  // measured, NUL-terminated
inline constexpr uint64_t kComponentTable = 0x11000;     // measured (igvm/builder.h)
inline constexpr uint64_t kParameterArea = 0x20000;      // host-filled, unmeasured
inline constexpr uint64_t kParameterAreaBytes = 0x4000;
inline constexpr uint64_t kZeroPage = 0x12000;           // boot_params the shim builds
inline constexpr uint64_t kKernelCommandLine = 0x13000;  // the command line Linux gets
inline constexpr uint64_t kAcpiTables = 0x14000;         // ACPI tables the shim builds
inline constexpr uint64_t kAcpiTablesBytes = 0x3000;     // room for a MADT of a full page

// Byte offsets inside the parameter area (the manifest's "parameters").
inline constexpr size_t kVpCountOffset = 0x0;
inline constexpr size_t kEnvironmentInfoOffset = 0x8;
inline constexpr size_t kMemoryMapOffset = 0x1000;
inline constexpr size_t kCommandLineOffset = 0x2000;
inline constexpr size_t kMadtOffset = 0x3000;
inline constexpr size_t kParameterPageBytes = 0x1000;

}  // namespace shim::layout
