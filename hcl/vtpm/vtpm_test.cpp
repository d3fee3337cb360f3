// The vTPM as VTL0's tpm_crb sees it, over the real libtpms: commands
// through the CRB registers and buffer, PCR extends matching their
// definition, and the permanent state surviving a restart of the engine.
#include "vtpm/vtpm.h"

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "attest/mbed_hash.h"
#include "base/be_bytes.h"
#include "tpm/platform.h"
#include "tpm/quote.h"
#include "tpm/testing/memory_command_buffer.h"
#include "vtpm/libtpms_engine.h"
#include "vtpm/state_store.h"

namespace {

using hcl::vtpm::LibtpmsEngine;
using hcl::vtpm::MemoryStateStore;
using hcl::vtpm::Vtpm;
using tpm::CrbInterface;

// Big-endian command bytes.
class Bytes {
 public:
  Bytes& U8(uint32_t v) { return Put(v, 1); }
  Bytes& U16(uint32_t v) { return Put(v, 2); }
  Bytes& U32(uint32_t v) { return Put(v, 4); }
  std::vector<std::byte> Command() {
    base::StoreBe<uint32_t>(bytes_, 2, static_cast<uint32_t>(bytes_.size()));
    return bytes_;
  }

 private:
  Bytes& Put(uint32_t v, size_t width) {
    for (size_t i = width; i-- > 0;) bytes_.push_back(static_cast<std::byte>(v >> (8 * i)));
    return *this;
  }
  std::vector<std::byte> bytes_;
};

// tpm_crb's sequence for one command (tpm-attestation.md §1.2), polling
// START as it does.
std::vector<std::byte> SendThroughCrb(Vtpm& vtpm, tpm::testing::MemoryCommandBuffer& buffer,
                                      std::span<const std::byte> command) {
  auto write32 = [&](uint32_t reg, uint32_t value) {
    const std::array<std::byte, 4> bytes{std::byte(value), std::byte(value >> 8),
                                         std::byte(value >> 16), std::byte(value >> 24)};
    vtpm.MmioWrite(tpm::kCrbBase + reg, bytes);
  };
  auto read32 = [&](uint32_t reg) {
    std::array<std::byte, 4> bytes{};
    vtpm.MmioRead(tpm::kCrbBase + reg, bytes);
    return uint32_t(bytes[0]) | uint32_t(bytes[1]) << 8 | uint32_t(bytes[2]) << 16 |
           uint32_t(bytes[3]) << 24;
  };
  write32(CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRequest);
  write32(CrbInterface::kCtrlReq, CrbInterface::kReqCmdReady);
  write32(CrbInterface::kCtrlCancel, 0);
  std::copy(command.begin(), command.end(), buffer.bytes().begin());
  write32(CrbInterface::kCtrlStart, 1);
  for (int i = 0; i < 100000 && read32(CrbInterface::kCtrlStart) == 1; ++i)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  REQUIRE(read32(CrbInterface::kCtrlStart) == 0);
  REQUIRE(read32(CrbInterface::kCtrlSts) == 0);
  const uint32_t size = base::LoadBe<uint32_t>(buffer.bytes(), 2);
  REQUIRE(size >= 10);
  REQUIRE(size <= tpm::kCrbBufferBytes);
  std::vector<std::byte> response(buffer.bytes().begin(), buffer.bytes().begin() + size);
  write32(CrbInterface::kCtrlReq, CrbInterface::kReqGoIdle);
  write32(CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRelinquish);
  return response;
}

uint32_t Rc(std::span<const std::byte> response) { return base::LoadBe<uint32_t>(response, 6); }

std::vector<std::byte> PcrReadSha256(uint32_t pcr) {
  Bytes b;
  b.U16(tpm::kStNoSessions).U32(0).U32(tpm::kCcPcrRead);
  b.U32(1).U16(0x000B).U8(3);
  for (uint32_t i = 0; i < 3; ++i) b.U8(i == pcr / 8 ? 1u << (pcr % 8) : 0);
  return b.Command();
}

// TPM2_CreatePrimary (Part 3 §24.1) of an ECC P-256 signing key under the
// owner hierarchy: its public key derives from the owner seed, so the same
// permanent state gives the same key.
std::vector<std::byte> CreatePrimaryEcc() {
  Bytes b;
  b.U16(tpm::kStSessions).U32(0).U32(0x131);
  b.U32(0x40000001);                            // TPM_RH_OWNER
  b.U32(9).U32(tpm::kRsPw).U16(0).U8(0).U16(0);  // password session, empty auth
  b.U16(4).U16(0).U16(0);                       // TPM2B_SENSITIVE_CREATE
  b.U16(22).U16(0x0023).U16(0x000B).U32(0x00040072).U16(0);  // ECC, SHA256, sign|fixed*, no policy
  b.U16(0x0010).U16(0x0010).U16(0x0003).U16(0x0010);         // no symmetric/scheme, P-256, no KDF
  b.U16(0).U16(0);                                           // unique: empty point
  b.U16(0).U32(0);                                           // outsideInfo, creationPCR
  return b.Command();
}

// The TPM2B_PUBLIC a CreatePrimary response carries (after the handle and
// parameterSize).
std::vector<std::byte> OutPublic(std::span<const std::byte> response) {
  REQUIRE(response.size() > 20);
  const uint16_t size = base::LoadBe<uint16_t>(response, 18);
  REQUIRE(response.size() >= 20u + size);
  return {response.begin() + 18, response.begin() + 20 + size};
}

TEST_CASE("vtpm: libtpms behind the CRB answers tpm_crb's commands; extends match their definition") {
  MemoryStateStore store;
  tpm::testing::MemoryCommandBuffer buffer(tpm::kCrbBufferBytes);
  auto engine = LibtpmsEngine::Create(store, tpm::kCrbBufferBytes);
  REQUIRE_MESSAGE(engine.ok(), engine.error().message());
  auto vtpm = Vtpm::Create(**engine, buffer);
  REQUIRE_MESSAGE(vtpm.ok(), vtpm.error().message());

  // A second engine in one process is refused (libtpms is global).
  MemoryStateStore other;
  CHECK_FALSE(LibtpmsEngine::Create(other, tpm::kCrbBufferBytes).ok());

  // Startup happened in Create: a second one is TPM_RC_INITIALIZE.
  CHECK((**vtpm).Run(tpm::StartupCommand(tpm::kSuClear)).value_or(0) == tpm::kRcInitialize);

  Bytes get_random;
  get_random.U16(tpm::kStNoSessions).U32(0).U32(tpm::kCcGetRandom).U16(32);
  const auto random = SendThroughCrb(**vtpm, buffer, get_random.Command());
  CHECK(Rc(random) == 0);
  CHECK(random.size() == 10 + 2 + 32);
  CHECK(base::LoadBe<uint16_t>(random, 10) == 32);

  // PCR 16 = SHA-256(zeros || d) after one extend with d.
  std::array<uint8_t, 32> digest{};
  for (size_t i = 0; i < digest.size(); ++i) digest[i] = static_cast<uint8_t>(i * 7);
  const tpm::TaggedDigest tagged{0x000B, digest};
  REQUIRE((**vtpm).Extend(16, std::span(&tagged, 1)).ok());
  std::array<std::byte, 64> chain{};
  for (size_t i = 0; i < 32; ++i) chain[32 + i] = std::byte{digest[i]};
  const std::vector<uint8_t> expected = attest::MbedHash(attest::HashAlg::kSha256, chain);
  const auto pcr = SendThroughCrb(**vtpm, buffer, PcrReadSha256(16));
  REQUIRE(Rc(pcr) == 0);
  REQUIRE(pcr.size() >= 32);
  std::vector<uint8_t> value;
  for (size_t i = pcr.size() - 32; i < pcr.size(); ++i) value.push_back(uint8_t(pcr[i]));
  CHECK(value == expected);

  // A bad command through the CRB is the TPM's error, not a failure.
  Bytes bogus;
  bogus.U16(tpm::kStNoSessions).U32(0).U32(0x0000FFFF);
  CHECK(Rc(SendThroughCrb(**vtpm, buffer, bogus.Command())) != 0);
  CHECK((**vtpm).commands_run() == 3);
}

// A boot of the vTPM on `store`: the owner-hierarchy ECC key it derives.
std::vector<std::byte> PrimaryKeyOf(MemoryStateStore& store) {
  tpm::testing::MemoryCommandBuffer buffer(tpm::kCrbBufferBytes);
  auto engine = LibtpmsEngine::Create(store, tpm::kCrbBufferBytes);
  REQUIRE(engine.ok());
  auto vtpm = Vtpm::Create(**engine, buffer);
  REQUIRE(vtpm.ok());
  const auto response = SendThroughCrb(**vtpm, buffer, CreatePrimaryEcc());
  REQUIRE(Rc(response) == 0);
  return OutPublic(response);
}

TEST_CASE("vtpm: the permanent state outlives the engine; a fresh state is a different TPM") {
  MemoryStateStore store;
  const std::vector<std::byte> first_key = PrimaryKeyOf(store);
  CHECK(store.stores() > 0);
  CHECK(PrimaryKeyOf(store) == first_key);
  MemoryStateStore fresh;
  CHECK(PrimaryKeyOf(fresh) != first_key);
}

// A store whose state cannot be read stops the TPM: no silent new TPM.
class BrokenStore final : public hcl::vtpm::StateStore {
 public:
  base::Result<std::optional<std::vector<std::byte>>> Load(std::string_view) override {
    return base::Error("state file: authentication tag mismatch");
  }
  base::Result<void> Store(std::string_view, std::span<const std::byte>) override {
    return base::Error("read-only");
  }
  base::Result<void> Delete(std::string_view) override { return base::Ok(); }
};

TEST_CASE("vtpm: state that cannot be read stops the TPM instead of replacing it") {
  BrokenStore store;
  auto engine = LibtpmsEngine::Create(store, tpm::kCrbBufferBytes);
  CHECK_FALSE(engine.ok());
  // And the process may try again once the state is fixed.
  MemoryStateStore good;
  CHECK(LibtpmsEngine::Create(good, tpm::kCrbBufferBytes).ok());
}

}  // namespace

namespace {

TEST_CASE("vtpm: an attestation key quotes PCRs 0-7; the quote parses and names them") {
  MemoryStateStore store;
  tpm::testing::MemoryCommandBuffer buffer(tpm::kCrbBufferBytes);
  auto engine = LibtpmsEngine::Create(store, tpm::kCrbBufferBytes);
  REQUIRE(engine.ok());
  auto vtpm = Vtpm::Create(**engine, buffer);
  REQUIRE(vtpm.ok());
  const auto created = (**vtpm).Execute(tpm::CreateAttestationKeyCommand());
  REQUIRE(Rc(created) == 0);
  const uint32_t ak = base::LoadBe<uint32_t>(created, 10);
  const std::array<uint8_t, 8> nonce{9, 8, 7, 6, 5, 4, 3, 2};
  std::vector<std::byte> quoted;
  for (int i = 0; i < 3; ++i) {  // libtpms answers the first quote TPM_RC_RETRY
    quoted = SendThroughCrb(**vtpm, buffer, tpm::QuoteCommand(ak, nonce));
    if (Rc(quoted) != 0x922) break;
  }
  REQUIRE(Rc(quoted) == 0);
  // Response: header, parameterSize, TPM2B_ATTEST, TPMT_SIGNATURE, session.
  const uint16_t attest_bytes = base::LoadBe<uint16_t>(quoted, 14);
  REQUIRE(quoted.size() > 16u + attest_bytes);
  auto quote = tpm::ParseQuote(std::span(quoted).subspan(16, attest_bytes));
  REQUIRE_MESSAGE(quote.ok(), quote.error().message());
  CHECK(quote->extra_data == std::vector<uint8_t>(nonce.begin(), nonce.end()));
  REQUIRE(quote->selections.size() == 1);
  CHECK(quote->selections[0].hash == 0x000B);
  CHECK(quote->selections[0].pcrs == std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(quote->pcr_digest.size() == 32);
  // PCRs 0-7 are all zero after Startup: the digest is SHA-256 of 256 zero bytes.
  CHECK(quote->pcr_digest == attest::MbedHash(attest::HashAlg::kSha256, std::vector<std::byte>(256)));
  auto signature = tpm::ParseQuoteSignature(std::span(quoted).subspan(16 + attest_bytes));
  // The session area follows the signature: parse just the signature's part.
  CHECK_FALSE(signature.ok());  // trailing bytes are refused...
  const size_t sig_at = 16 + attest_bytes;
  const size_t r_size = base::LoadBe<uint16_t>(quoted, sig_at + 4);
  const size_t s_size = base::LoadBe<uint16_t>(quoted, sig_at + 6 + r_size);
  auto exact = tpm::ParseQuoteSignature(std::span(quoted).subspan(sig_at, 8 + r_size + s_size));
  REQUIRE(exact.ok());  // ...the signature alone parses
  CHECK(exact->sig_alg == tpm::kAlgEcdsa);
  CHECK(exact->hash_alg == 0x000B);
  CHECK(exact->r.size() == 32);
}

}  // namespace
