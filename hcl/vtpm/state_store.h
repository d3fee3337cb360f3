// StateStore: where the vTPM's permanent state lives between boots. libtpms
// hands over its whole NVRAM ("permall", roughly 170 KiB) on every NV
// commit, synchronously during the command (tpm-attestation.md §4.2); a
// store must have it durable, or fail, before it returns.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hcl::vtpm {

class StateStore {
 public:
  virtual ~StateStore() = default;
  // The blob stored under `name`; nullopt when there is none yet (the TPM
  // is then manufactured afresh). An Error means the state exists but
  // cannot be trusted or read: the TPM must not start.
  virtual base::Result<std::optional<std::vector<std::byte>>> Load(std::string_view name) = 0;
  virtual base::Result<void> Store(std::string_view name, std::span<const std::byte> blob) = 0;
  virtual base::Result<void> Delete(std::string_view name) = 0;
};

// State that lasts as long as the process: a TPM with no guest-state file
// (a fresh TPM, new seeds, every boot).
class MemoryStateStore final : public StateStore {
 public:
  base::Result<std::optional<std::vector<std::byte>>> Load(std::string_view name) override {
    auto it = blobs_.find(std::string(name));
    if (it == blobs_.end()) return std::optional<std::vector<std::byte>>();
    return std::optional(it->second);
  }
  base::Result<void> Store(std::string_view name, std::span<const std::byte> blob) override {
    blobs_[std::string(name)].assign(blob.begin(), blob.end());
    ++stores_;
    return base::Ok();
  }
  base::Result<void> Delete(std::string_view name) override {
    blobs_.erase(std::string(name));
    return base::Ok();
  }
  int stores() const { return stores_; }

 private:
  std::map<std::string, std::vector<std::byte>> blobs_;
  int stores_ = 0;
};

}  // namespace hcl::vtpm
