#include "vtpm/libtpms_engine.h"

#include <tpm_error.h>
#include <tpm_library.h>
#include <tpm_memory.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hcl::vtpm {
namespace {

// The one engine libtpms's callbacks reach (libtpms has no context pointer).
std::atomic<LibtpmsEngine*> g_engine{nullptr};

// Callbacks run inside TPMLIB_MainInit or TPMLIB_Process, i.e. under the
// engine's mutex.
extern "C" TPM_RESULT NvramInit() { return TPM_SUCCESS; }

// §4.2: a malloc'd copy libtpms frees; TPM_RETRY means "no state yet"
// (manufacture), TPM_FAIL puts the TPM in failure mode.
extern "C" TPM_RESULT NvramLoad(unsigned char** data, uint32_t* length, uint32_t /*tpm_number*/,
                                const char* name) {
  LibtpmsEngine* engine = g_engine.load();
  if (engine == nullptr) return TPM_FAIL;
  auto loaded = engine->store().Load(name);
  if (!loaded.ok()) {
    std::fprintf(stderr, "hcl: vtpm: state \"%s\": %s\n", name, loaded.error().message().c_str());
    return TPM_FAIL;
  }
  if (!loaded->has_value()) return TPM_RETRY;
  const std::vector<std::byte>& blob = **loaded;
  if (blob.size() > UINT32_MAX) return TPM_FAIL;
  auto* copy = static_cast<unsigned char*>(std::malloc(blob.empty() ? 1 : blob.size()));
  if (copy == nullptr) return TPM_FAIL;
  if (!blob.empty()) std::memcpy(copy, blob.data(), blob.size());
  *data = copy;
  *length = static_cast<uint32_t>(blob.size());
  return TPM_SUCCESS;
}

extern "C" TPM_RESULT NvramStore(const unsigned char* data, uint32_t length,
                                 uint32_t /*tpm_number*/, const char* name) {
  LibtpmsEngine* engine = g_engine.load();
  if (engine == nullptr) return TPM_FAIL;
  auto stored = engine->store().Store(
      name, std::span(reinterpret_cast<const std::byte*>(data), length));
  if (!stored.ok()) {
    std::fprintf(stderr, "hcl: vtpm: storing \"%s\": %s\n", name, stored.error().message().c_str());
    return TPM_FAIL;
  }
  return TPM_SUCCESS;
}

extern "C" TPM_RESULT NvramDelete(uint32_t /*tpm_number*/, const char* name, TPM_BOOL must_exist) {
  LibtpmsEngine* engine = g_engine.load();
  if (engine == nullptr) return TPM_FAIL;
  if (must_exist) {
    auto loaded = engine->store().Load(name);
    if (!loaded.ok() || !loaded->has_value()) return TPM_FAIL;
  }
  return engine->store().Delete(name).ok() ? TPM_SUCCESS : TPM_FAIL;
}

extern "C" TPM_RESULT IoInit() { return TPM_SUCCESS; }

// Called per command: the locality the command came from (the CRB's active
// locality), which policies and PCR permissions check.
extern "C" TPM_RESULT IoLocality(TPM_MODIFIER_INDICATOR* locality, uint32_t /*tpm_number*/) {
  LibtpmsEngine* engine = g_engine.load();
  *locality = engine != nullptr ? engine->locality() : 0;
  return TPM_SUCCESS;
}

// No physical presence: a VM has no one at a keyboard to assert it.
extern "C" TPM_RESULT IoPhysicalPresence(TPM_BOOL* present, uint32_t /*tpm_number*/) {
  *present = FALSE;
  return TPM_SUCCESS;
}

}  // namespace

base::Result<std::unique_ptr<LibtpmsEngine>> LibtpmsEngine::Create(StateStore& store,
                                                                   uint32_t buffer_bytes) {
  std::unique_ptr<LibtpmsEngine> engine(new LibtpmsEngine(store));
  LibtpmsEngine* expected = nullptr;
  if (!g_engine.compare_exchange_strong(expected, engine.get()))
    return base::Error("vtpm: libtpms already runs a TPM in this process");
  std::lock_guard lock(engine->mutex_);
  libtpms_callbacks callbacks{};
  callbacks.sizeOfStruct = sizeof(callbacks);
  callbacks.tpm_nvram_init = NvramInit;
  callbacks.tpm_nvram_loaddata = NvramLoad;
  callbacks.tpm_nvram_storedata = NvramStore;
  callbacks.tpm_nvram_deletename = NvramDelete;
  callbacks.tpm_io_init = IoInit;
  callbacks.tpm_io_getlocality = IoLocality;
  callbacks.tpm_io_getphysicalpresence = IoPhysicalPresence;
  auto fail = [&](const char* what, TPM_RESULT rc) {
    g_engine.store(nullptr);
    return base::Error::Format("vtpm: libtpms %s failed (0x%x)", what, rc);
  };
  if (TPM_RESULT rc = TPMLIB_RegisterCallbacks(&callbacks); rc != TPM_SUCCESS)
    return fail("RegisterCallbacks", rc);
  if (TPM_RESULT rc = TPMLIB_ChooseTPMVersion(TPMLIB_TPM_VERSION_2); rc != TPM_SUCCESS)
    return fail("ChooseTPMVersion(2)", rc);
  TPMLIB_SetBufferSize(buffer_bytes, nullptr, nullptr);
  if (TPM_RESULT rc = TPMLIB_MainInit(); rc != TPM_SUCCESS) {
    TPMLIB_Terminate();
    g_engine.store(nullptr);
    return base::Error::Format(
        "vtpm: the TPM did not start (libtpms MainInit 0x%x): its saved state is missing a "
        "part, unreadable or inconsistent",
        rc);
  }
  engine->running_ = true;
  return engine;
}

LibtpmsEngine::~LibtpmsEngine() {
  std::lock_guard lock(mutex_);
  TPM_Free(response_);
  if (!running_) return;  // refused or failed in Create: libtpms is someone else's
  TPMLIB_Terminate();
  g_engine.store(nullptr);
}

std::vector<std::byte> LibtpmsEngine::Execute(uint8_t locality,
                                              std::span<const std::byte> command) {
  std::lock_guard lock(mutex_);
  locality_ = locality;
  // TPMLIB_Process takes a non-const command buffer; give it a copy.
  std::vector<unsigned char> input(command.size());
  std::memcpy(input.data(), command.data(), command.size());
  uint32_t response_bytes = 0;
  // It always returns TPM_SUCCESS for TPM 2.0; TPM errors are in the
  // response (§4.1).
  (void)TPMLIB_Process(&response_, &response_bytes, &response_capacity_, input.data(),
                       static_cast<uint32_t>(input.size()));
  if (response_ == nullptr || response_bytes > response_capacity_) return {};
  std::vector<std::byte> response(response_bytes);
  std::memcpy(response.data(), response_, response_bytes);
  return response;
}

void LibtpmsEngine::Cancel() { (void)TPMLIB_CancelCommand(); }

}  // namespace hcl::vtpm
