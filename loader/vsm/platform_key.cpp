#include "vsm/platform_key.h"

#include <mbedtls/md.h>

#include <string_view>
#include <vector>

namespace loader::vsm {
namespace {

std::array<uint8_t, 32> HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  std::array<uint8_t, 32> out{};
  (void)mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key.data(), key.size(),
                        data.data(), data.size(), out.data());
  return out;
}

}  // namespace

PlatformKey::PlatformKey(const PlatformSecret& host_secret,
                         std::span<const uint8_t> launch_measurement) {
  constexpr std::string_view kLabel = "hcl platform key v1";
  std::vector<uint8_t> input(kLabel.begin(), kLabel.end());
  input.insert(input.end(), launch_measurement.begin(), launch_measurement.end());
  root_ = HmacSha256(host_secret, input);
}

std::array<uint8_t, 32> PlatformKey::Derive(std::span<const uint8_t, 32> context) const {
  return HmacSha256(root_, context);
}

}  // namespace loader::vsm
