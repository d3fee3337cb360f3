// Proof that Debian's glibc-built libtpms.a runs inside a static musl program
// (with OpenSSL's libcrypto built for musl and ci/toolchain's glibc_compat
// shims): a TPM 2.0 with its NVRAM kept in memory answers TPM2_Startup,
// TPM2_GetRandom, TPM2_PCR_Extend and TPM2_PCR_Read, and PCR 16 ends up as
// SHA-256(32 zero bytes || digest), which this program computes on its own.
//
// Prints one line per check and exits 0 only if every check passed.

#include <tpm_error.h>
#include <tpm_library.h>
#include <tpm_memory.h>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

int g_failures = 0;

bool Check(bool ok, std::string_view what) {
  std::printf("%s %.*s\n", ok ? "ok  " : "FAIL", static_cast<int>(what.size()), what.data());
  if (!ok) ++g_failures;
  return ok;
}

// ---- TPM 2.0 constants (TPM 2.0 Library, Part 2: Structures) ---------------

constexpr std::uint16_t kStNoSessions = 0x8001;  // §6.9 TPM_ST_NO_SESSIONS
constexpr std::uint16_t kStSessions = 0x8002;    // §6.9 TPM_ST_SESSIONS
constexpr std::uint32_t kCcStartup = 0x00000144;  // §6.5 TPM_CC_Startup
constexpr std::uint32_t kCcGetRandom = 0x0000017B;
constexpr std::uint32_t kCcPcrExtend = 0x00000182;
constexpr std::uint32_t kCcPcrRead = 0x0000017E;
constexpr std::uint16_t kSuClear = 0x0000;        // §6.11 TPM_SU_CLEAR
constexpr std::uint32_t kRsPw = 0x40000009;       // §7.4 TPM_RS_PW
constexpr std::uint16_t kAlgSha256 = 0x000B;      // §6.3 TPM_ALG_SHA256
constexpr std::uint32_t kRcSuccess = 0;
constexpr std::uint32_t kPcr = 16;                // debug PCR, resettable
constexpr std::size_t kHeaderSize = 10;           // tag, size, code/rc

using Digest = std::array<std::uint8_t, 32>;

// ---- NVRAM in memory ----------------------------------------------------------

std::map<std::string, std::vector<unsigned char>> g_nvram;
int g_nvram_stores = 0;

extern "C" {

static TPM_RESULT NvramInit() { return TPM_SUCCESS; }

// libtpms frees *data itself, with free().
static TPM_RESULT NvramLoad(unsigned char** data, uint32_t* length, uint32_t /*tpm_number*/,
                            const char* name) {
  auto it = g_nvram.find(name);
  if (it == g_nvram.end()) return TPM_RETRY;  // "no such state": manufacture
  *data = static_cast<unsigned char*>(std::malloc(std::max<std::size_t>(it->second.size(), 1)));
  if (*data == nullptr) return TPM_FAIL;
  std::memcpy(*data, it->second.data(), it->second.size());
  *length = static_cast<uint32_t>(it->second.size());
  return TPM_SUCCESS;
}

static TPM_RESULT NvramStore(const unsigned char* data, uint32_t length,
                             uint32_t /*tpm_number*/, const char* name) {
  g_nvram[name].assign(data, data + length);
  ++g_nvram_stores;
  return TPM_SUCCESS;
}

static TPM_RESULT NvramDelete(uint32_t /*tpm_number*/, const char* name, TPM_BOOL must_exist) {
  bool existed = g_nvram.erase(name) != 0;
  return existed || !must_exist ? TPM_SUCCESS : TPM_FAIL;
}

}  // extern "C"

// ---- marshalling (big-endian, TPM 2.0 Part 1 §18) ----------------------------

class Command {
 public:
  Command(std::uint16_t tag, std::uint32_t code) {
    U16(tag);
    U32(0);  // size, patched by Bytes()
    U32(code);
  }
  Command& U8(std::uint8_t v) {
    bytes_.push_back(v);
    return *this;
  }
  Command& U16(std::uint16_t v) {
    return U8(static_cast<std::uint8_t>(v >> 8)).U8(static_cast<std::uint8_t>(v & 0xff));
  }
  Command& U32(std::uint32_t v) {
    return U16(static_cast<std::uint16_t>(v >> 16)).U16(static_cast<std::uint16_t>(v & 0xffff));
  }
  Command& Raw(std::span<const std::uint8_t> data) {
    bytes_.insert(bytes_.end(), data.begin(), data.end());
    return *this;
  }
  std::vector<std::uint8_t>& Bytes() {
    auto size = static_cast<std::uint32_t>(bytes_.size());
    for (std::size_t i = 0; i < 4; ++i) bytes_[2 + i] = static_cast<std::uint8_t>(size >> (24 - 8 * i));
    return bytes_;
  }

 private:
  std::vector<std::uint8_t> bytes_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> data) : data_(data) {}
  std::optional<std::uint32_t> Uint(std::size_t width) {
    if (data_.size() - pos_ < width) return std::nullopt;
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < width; ++i) v = (v << 8) | data_[pos_ + i];
    pos_ += width;
    return v;
  }
  std::optional<std::span<const std::uint8_t>> Take(std::size_t n) {
    if (data_.size() - pos_ < n) return std::nullopt;
    auto out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  std::size_t remaining() const { return data_.size() - pos_; }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
};

struct Response {
  std::uint16_t tag = 0;
  std::uint32_t rc = 0;
  std::vector<std::uint8_t> body;  // after the 10-byte header
};

class Tpm {
 public:
  ~Tpm() { TPM_Free(buffer_); }

  // Sends a command; nullopt if libtpms fails or the header is malformed.
  std::optional<Response> Send(Command& command) {
    auto& bytes = command.Bytes();
    std::uint32_t resp_size = 0;
    TPM_RESULT r = TPMLIB_Process(&buffer_, &resp_size, &buffer_size_, bytes.data(),
                                  static_cast<std::uint32_t>(bytes.size()));
    if (r != TPM_SUCCESS || resp_size < kHeaderSize) return std::nullopt;
    Reader reader({buffer_, resp_size});
    auto tag = reader.Uint(2);
    auto size = reader.Uint(4);
    auto rc = reader.Uint(4);
    if (!tag || !size || !rc || *size != resp_size) return std::nullopt;
    auto body = reader.Take(reader.remaining());
    return Response{static_cast<std::uint16_t>(*tag), *rc, {body->begin(), body->end()}};
  }

 private:
  unsigned char* buffer_ = nullptr;
  std::uint32_t buffer_size_ = 0;
};

// TPM2_PCR_Read of one SHA-256 PCR (Part 3 §22.4). pcrSelect is a bitmap,
// PCR n at byte n/8, bit n%8.
std::optional<Digest> ReadPcr(Tpm& tpm, std::uint32_t pcr) {
  std::array<std::uint8_t, 3> select{};
  select[pcr / 8] = static_cast<std::uint8_t>(1u << (pcr % 8));
  Command command(kStNoSessions, kCcPcrRead);
  command.U32(1).U16(kAlgSha256).U8(select.size()).Raw(select);
  auto response = tpm.Send(command);
  if (!response || response->rc != kRcSuccess) return std::nullopt;
  // pcrUpdateCounter, TPML_PCR_SELECTION (count, hash, sizeofSelect, bitmap),
  // TPML_DIGEST (count, size, bytes).
  Reader r(response->body);
  auto update_counter = r.Uint(4);
  auto selections = r.Uint(4);
  auto hash = r.Uint(2);
  auto select_size = r.Uint(1);
  if (!update_counter || selections != 1u || hash != kAlgSha256 || !select_size) return std::nullopt;
  auto bitmap = r.Take(*select_size);
  auto digests = r.Uint(4);
  auto digest_size = r.Uint(2);
  if (!bitmap || digests != 1u || digest_size != 32u) return std::nullopt;
  auto value = r.Take(32);
  if (!value || r.remaining() != 0) return std::nullopt;
  Digest out;
  std::copy(value->begin(), value->end(), out.begin());
  return out;
}

std::string Hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

}  // namespace

int main() {
  if (!Check(TPMLIB_ChooseTPMVersion(TPMLIB_TPM_VERSION_2) == TPM_SUCCESS,
             "TPMLIB_ChooseTPMVersion(TPM 2.0)"))
    return 1;
  libtpms_callbacks callbacks{};
  callbacks.sizeOfStruct = sizeof callbacks;
  callbacks.tpm_nvram_init = NvramInit;
  callbacks.tpm_nvram_loaddata = NvramLoad;
  callbacks.tpm_nvram_storedata = NvramStore;
  callbacks.tpm_nvram_deletename = NvramDelete;
  if (!Check(TPMLIB_RegisterCallbacks(&callbacks) == TPM_SUCCESS, "TPMLIB_RegisterCallbacks"))
    return 1;
  if (!Check(TPMLIB_MainInit() == TPM_SUCCESS, "TPMLIB_MainInit")) return 1;
  Check(g_nvram_stores > 0 && !g_nvram.empty(), "manufacture stored state through the callbacks");

  {
    Tpm tpm;

    // TPM2_Startup(TPM_SU_CLEAR), Part 3 §9.3.
    Command startup(kStNoSessions, kCcStartup);
    startup.U16(kSuClear);
    auto started = tpm.Send(startup);
    Check(started && started->rc == kRcSuccess && started->body.empty(), "TPM2_Startup(CLEAR)");

    // TPM2_GetRandom(16), Part 3 §16.1: response is a TPM2B_DIGEST.
    std::vector<std::vector<std::uint8_t>> randoms;
    for (int i = 0; i < 2; ++i) {
      Command get_random(kStNoSessions, kCcGetRandom);
      get_random.U16(16);
      auto response = tpm.Send(get_random);
      if (!response || response->rc != kRcSuccess) break;
      Reader r(response->body);
      auto size = r.Uint(2);
      auto bytes = r.Take(16);
      if (size != 16u || !bytes || r.remaining() != 0) break;
      randoms.emplace_back(bytes->begin(), bytes->end());
    }
    Check(randoms.size() == 2, "TPM2_GetRandom(16) returns 16 bytes");
    Check(randoms.size() == 2 && randoms[0] != randoms[1] &&
              std::any_of(randoms[0].begin(), randoms[0].end(), [](auto b) { return b != 0; }),
          "TPM2_GetRandom output differs between calls");

    auto before = ReadPcr(tpm, kPcr);
    Check(before && *before == Digest{}, "PCR 16 (SHA-256) reads all zeros after Startup");

    Digest extend_digest;
    for (std::size_t i = 0; i < extend_digest.size(); ++i)
      extend_digest[i] = static_cast<std::uint8_t>(i);

    // TPM2_PCR_Extend, Part 3 §22.2: one handle with a password session
    // (TPM_RS_PW, empty nonce, attributes 0, empty password: PCR 16's
    // authValue is empty), then TPML_DIGEST_VALUES with one SHA-256 digest.
    Command extend(kStSessions, kCcPcrExtend);
    extend.U32(kPcr);
    extend.U32(4 + 2 + 1 + 2).U32(kRsPw).U16(0).U8(0).U16(0);  // authorizationSize + TPMS_AUTH_COMMAND
    extend.U32(1).U16(kAlgSha256).Raw(extend_digest);
    auto extended = tpm.Send(extend);
    Check(extended && extended->tag == kStSessions && extended->rc == kRcSuccess,
          "TPM2_PCR_Extend(16, SHA-256)");

    // Expected: SHA-256(old value || digest), old value = 32 zero bytes.
    std::array<std::uint8_t, 64> input{};
    std::copy(extend_digest.begin(), extend_digest.end(), input.begin() + 32);
    Digest expected{};
    unsigned int expected_size = 0;
    bool hashed = EVP_Digest(input.data(), input.size(), expected.data(), &expected_size,
                             EVP_sha256(), nullptr) == 1 &&
                  expected_size == expected.size();
    // The same value from Python's hashlib, so the test does not only trust
    // the OpenSSL that libtpms itself uses.
    Check(hashed && Hex(expected) ==
                        "bb2275c49f28ad52cae6d55e34a974a58c7a3ba26f976e8ecbbe7a536918dc73",
          "OpenSSL SHA-256 of the expected extend input");

    auto after = ReadPcr(tpm, kPcr);
    Check(after && *after == expected, "PCR 16 == SHA-256(zeros32 || digest)");
    if (after && *after != expected)
      std::printf("     PCR 16 = %s\n     expected %s\n", Hex(*after).c_str(), Hex(expected).c_str());
  }

  TPMLIB_Terminate();

  if (g_failures != 0) {
    std::printf("%d check(s) FAILED\n", g_failures);
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}
