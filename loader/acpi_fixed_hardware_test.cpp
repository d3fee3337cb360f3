// The ACPI fixed hardware hcl-loader attaches to VTL2's and VTL0's port
// buses (devices::AcpiPm1) is the hardware the FADT and DSDT the boot
// shim builds describe (bootloader/acpi_tables.h): both sides must agree.
#include <doctest/doctest.h>

#include "acpi_tables.h"
#include "devices/acpi_pm.h"

TEST_CASE("PM1 ports and the S5 sleep type match the FADT and DSDT the shim builds") {
  CHECK(devices::AcpiPm1::kPm1EventBase == shim::acpi::kPm1aEventPort);
  CHECK(devices::AcpiPm1::kPm1EventBytes == shim::acpi::kPm1EventBytes);
  CHECK(devices::AcpiPm1::kPm1ControlBase == shim::acpi::kPm1aControlPort);
  CHECK(devices::AcpiPm1::kPm1ControlBytes == shim::acpi::kPm1ControlBytes);
  CHECK(devices::AcpiPm1::kS5SleepType == shim::acpi::kS5SleepType);
}
