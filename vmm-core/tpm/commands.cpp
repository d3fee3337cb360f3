#include "tpm/commands.h"

#include <algorithm>

#include "base/be_bytes.h"

namespace tpm {
namespace {

// Appends big-endian fields, then patches the size (Part 1 §18.2).
class CommandWriter {
 public:
  CommandWriter(uint16_t tag, uint32_t code) {
    U16(tag);
    U32(0);
    U32(code);
  }
  CommandWriter& U8(uint8_t v) { return Put(v, 1); }
  CommandWriter& U16(uint16_t v) { return Put(v, 2); }
  CommandWriter& U32(uint32_t v) { return Put(v, 4); }
  // Part 1 §18.7: one TPMS_AUTH_COMMAND, TPM_RS_PW with an empty nonce,
  // no attributes and an empty password (4 + 2 + 1 + 2 bytes).
  CommandWriter& EmptyPasswordSession() {
    return U32(9).U32(kRsPw).U16(0).U8(0).U16(0);
  }
  CommandWriter& Bytes(std::span<const uint8_t> data) {
    for (uint8_t b : data) bytes_.push_back(std::byte{b});
    return *this;
  }
  std::vector<std::byte> Finish() {
    base::StoreBe<uint32_t>(bytes_, 2, static_cast<uint32_t>(bytes_.size()));
    return std::move(bytes_);
  }

 private:
  CommandWriter& Put(uint32_t v, size_t width) {
    for (size_t i = width; i-- > 0;) bytes_.push_back(static_cast<std::byte>(v >> (8 * i)));
    return *this;
  }
  std::vector<std::byte> bytes_;
};

}  // namespace

std::vector<std::byte> StartupCommand(uint16_t startup_type) {
  CommandWriter writer(kStNoSessions, kCcStartup);
  return writer.U16(startup_type).Finish();
}

// Part 3 §22.2: handle, authorization area (one TPMS_AUTH_COMMAND: handle
// TPM_RS_PW, empty nonce, attributes 0, empty password), TPML_DIGEST_VALUES.
std::vector<std::byte> PcrExtendCommand(uint32_t pcr, std::span<const TaggedDigest> digests) {
  CommandWriter writer(kStSessions, kCcPcrExtend);
  writer.U32(pcr);
  writer.EmptyPasswordSession();
  writer.U32(static_cast<uint32_t>(digests.size()));
  for (const TaggedDigest& d : digests) writer.U16(d.alg).Bytes(d.digest);
  return writer.Finish();
}

std::vector<std::byte> GetRandomCommand(uint16_t bytes) {
  CommandWriter writer(kStNoSessions, kCcGetRandom);
  return writer.U16(bytes).Finish();
}

std::vector<std::byte> CreateAttestationKeyCommand() {
  // Part 2 §8.3 TPMA_OBJECT: fixedTPM 1, fixedParent 4, sensitiveDataOrigin
  // 5, userWithAuth 6, restricted 16, sign 18.
  constexpr uint32_t kAttributes = 1u << 1 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 16 | 1u << 18;
  constexpr uint16_t kAlgEcc = 0x0023, kAlgSha256 = 0x000B, kAlgNull = 0x0010, kAlgEcdsa = 0x0018;
  constexpr uint16_t kCurveP256 = 0x0003;
  CommandWriter writer(kStSessions, 0x131);
  writer.U32(kRhEndorsement).EmptyPasswordSession();
  writer.U16(4).U16(0).U16(0);  // TPM2B_SENSITIVE_CREATE: no auth, no data
  // TPM2B_PUBLIC: type, nameAlg, attributes, authPolicy (empty), TPMS_ECC_PARMS
  // (symmetric NULL, scheme ECDSA/SHA-256, curve, kdf NULL), unique (empty point).
  writer.U16(24).U16(kAlgEcc).U16(kAlgSha256).U32(kAttributes).U16(0);
  writer.U16(kAlgNull).U16(kAlgEcdsa).U16(kAlgSha256).U16(kCurveP256).U16(kAlgNull);
  writer.U16(0).U16(0);
  writer.U16(0).U32(0);  // outsideInfo, creationPCR
  return writer.Finish();
}

std::vector<std::byte> QuoteCommand(uint32_t key, std::span<const uint8_t> nonce) {
  CommandWriter writer(kStSessions, 0x158);
  writer.U32(key).EmptyPasswordSession();
  const auto size = static_cast<uint16_t>(std::min<size_t>(nonce.size(), 64));
  writer.U16(size).Bytes(nonce.first(size));
  writer.U16(0x0010);                       // inScheme TPM_ALG_NULL: the key's
  writer.U32(1).U16(0x000B).U8(3).U8(0xFF).U8(0).U8(0);  // SHA-256 PCRs 0-7
  return writer.Finish();
}

std::vector<std::byte> GetPcrAllocationCommand() {
  CommandWriter writer(kStNoSessions, kCcGetCapability);
  return writer.U32(kCapPcrs).U32(0).U32(1).Finish();  // capability, property, count
}

base::Result<std::vector<uint16_t>> ParsePcrAllocation(std::span<const std::byte> response) {
  const uint32_t rc = TRY(ResponseCode(response));
  if (rc != kRcSuccess) return base::Error::Format("tpm: GetCapability(PCRS) answered 0x%x", rc);
  // Header, moreData (1), capability (4), count (4).
  size_t at = 10;
  if (response.size() < at + 9 || base::LoadBe<uint32_t>(response, at + 1) != kCapPcrs)
    return base::Error("tpm: GetCapability(PCRS): not a PCR allocation");
  const uint32_t count = base::LoadBe<uint32_t>(response, at + 5);
  at += 9;
  std::vector<uint16_t> banks;
  for (uint32_t i = 0; i < count; ++i) {
    if (response.size() - at < 3) return base::Error("tpm: GetCapability(PCRS): truncated");
    const uint16_t alg = base::LoadBe<uint16_t>(response, at);
    const size_t select_bytes = static_cast<uint8_t>(response[at + 2]);
    at += 3;
    if (response.size() - at < select_bytes)
      return base::Error("tpm: GetCapability(PCRS): truncated selection");
    bool any = false;
    for (size_t b = 0; b < select_bytes; ++b) any = any || response[at + b] != std::byte{0};
    at += select_bytes;
    if (any) banks.push_back(alg);
  }
  return banks;
}

std::vector<std::byte> ReadPublicCommand(uint32_t object) {
  return CommandWriter(kStNoSessions, 0x173).U32(object).Finish();
}

std::vector<std::byte> EvictControlCommand(uint32_t auth, uint32_t object, uint32_t persistent) {
  CommandWriter writer(kStSessions, 0x120);
  return writer.U32(auth).U32(object).EmptyPasswordSession().U32(persistent).Finish();
}

std::vector<std::byte> FlushContextCommand(uint32_t handle) {
  return CommandWriter(kStNoSessions, 0x165).U32(handle).Finish();
}

std::vector<std::byte> NvDefineSpaceCommand(uint32_t auth, uint32_t index, uint32_t attributes,
                                            uint16_t size) {
  constexpr uint16_t kAlgSha256 = 0x000B;
  CommandWriter writer(kStSessions, 0x12A);
  writer.U32(auth).EmptyPasswordSession();
  writer.U16(0);  // TPM2B_AUTH: the index's auth value, empty
  // TPM2B_NV_PUBLIC: nvIndex, nameAlg, attributes, authPolicy (empty), dataSize.
  writer.U16(4 + 2 + 4 + 2 + 2).U32(index).U16(kAlgSha256).U32(attributes).U16(0).U16(size);
  return writer.Finish();
}

std::vector<std::byte> NvUndefineSpaceCommand(uint32_t auth, uint32_t index) {
  CommandWriter writer(kStSessions, 0x122);
  return writer.U32(auth).U32(index).EmptyPasswordSession().Finish();
}

std::vector<std::byte> NvWriteCommand(uint32_t auth, uint32_t index, std::span<const uint8_t> data,
                                      uint16_t offset) {
  const auto chunk = data.first(std::min(data.size(), kMaxNvBuffer));
  CommandWriter writer(kStSessions, 0x137);
  writer.U32(auth).U32(index).EmptyPasswordSession();
  writer.U16(static_cast<uint16_t>(chunk.size())).Bytes(chunk).U16(offset);
  return writer.Finish();
}

std::vector<std::byte> NvReadCommand(uint32_t auth, uint32_t index, uint16_t size, uint16_t offset) {
  CommandWriter writer(kStSessions, 0x14E);
  return writer.U32(auth).U32(index).EmptyPasswordSession().U16(size).U16(offset).Finish();
}

namespace {

// Reads big-endian fields of a response, refusing to run past its end.
class ResponseReader {
 public:
  ResponseReader(std::span<const std::byte> bytes, size_t at) : bytes_(bytes), at_(at) {}
  bool U16(uint16_t& v) { return Take(2, v); }
  bool U32(uint32_t& v) { return Take(4, v); }
  bool Sized(std::vector<uint8_t>& out) {  // a TPM2B: u16 size, then the bytes
    uint16_t size = 0;
    if (!U16(size) || bytes_.size() - at_ < size) return false;
    out.resize(size);
    for (size_t i = 0; i < size; ++i) out[i] = std::to_integer<uint8_t>(bytes_[at_ + i]);
    at_ += size;
    return true;
  }
  size_t at() const { return at_; }

 private:
  template <typename T>
  bool Take(size_t width, T& v) {
    if (at_ > bytes_.size() || bytes_.size() - at_ < width) return false;
    v = base::LoadBe<T>(bytes_, at_);
    at_ += width;
    return true;
  }
  std::span<const std::byte> bytes_;
  size_t at_;
};

// TPM2B_PUBLIC at `at` holding an ECC key (Part 2 §12.2.5; the parameters
// §12.2.3.6 TPMS_ECC_PARMS: symmetric, scheme, curve, kdf).
base::Result<EccPublic> ParseEccPublicAt(std::span<const std::byte> response, size_t at) {
  constexpr uint16_t kAlgEcc = 0x0023, kAlgNull = 0x0010;
  const uint32_t rc = TRY(ResponseCode(response));
  if (rc != kRcSuccess) return base::Error::Format("tpm: the command answered 0x%x", rc);
  ResponseReader reader(response, at);
  uint16_t size = 0, type = 0, name_alg = 0, symmetric = 0, kdf = 0;
  EccPublic key;
  std::vector<uint8_t> policy;
  if (!reader.U16(size) || response.size() - reader.at() < size)
    return base::Error("tpm: public area truncated");
  const size_t end = reader.at() + size;
  if (!reader.U16(type) || type != kAlgEcc) return base::Error("tpm: not an ECC key");
  if (!reader.U16(name_alg) || !reader.U32(key.attributes) || !reader.Sized(policy) ||
      !reader.U16(symmetric))
    return base::Error("tpm: public area truncated");
  if (symmetric != kAlgNull) {  // keyBits and mode follow a symmetric algorithm
    uint16_t skip = 0;
    if (!reader.U16(skip) || !reader.U16(skip)) return base::Error("tpm: public area truncated");
  }
  if (!reader.U16(key.scheme)) return base::Error("tpm: public area truncated");
  if (key.scheme != kAlgNull && !reader.U16(key.scheme_hash))
    return base::Error("tpm: public area truncated");
  if (!reader.U16(key.curve) || !reader.U16(kdf)) return base::Error("tpm: public area truncated");
  if (kdf != kAlgNull) {
    uint16_t skip = 0;
    if (!reader.U16(skip)) return base::Error("tpm: public area truncated");
  }
  if (!reader.Sized(key.x) || !reader.Sized(key.y) || reader.at() != end)
    return base::Error("tpm: public area's point truncated or sizes disagree");
  for (size_t i = at; i < end; ++i) key.area.push_back(std::to_integer<uint8_t>(response[i]));
  return key;
}

}  // namespace

base::Result<EccPublic> ParseCreatePrimaryPublic(std::span<const std::byte> response) {
  return ParseEccPublicAt(response, 10 + 4 + 4);  // header, objectHandle, parameterSize
}

base::Result<EccPublic> ParseReadPublic(std::span<const std::byte> response) {
  return ParseEccPublicAt(response, 10);
}

base::Result<uint32_t> ResponseCode(std::span<const std::byte> response) {
  if (response.size() < 10) return base::Error("tpm: response shorter than its header");
  if (base::LoadBe<uint32_t>(response, 2) != response.size())
    return base::Error("tpm: response size field disagrees with its length");
  return base::LoadBe<uint32_t>(response, 6);
}

}  // namespace tpm
