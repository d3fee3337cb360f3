#include "vtpm/guest_state.h"

#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "base/le_bytes.h"

namespace hcl::vtpm {
namespace {

constexpr std::string_view kMagic = "HCLGSTAT";
constexpr size_t kItemHeaderBytes = 40;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr size_t kMacOffset = 32;

const unsigned char* U8(std::span<const std::byte> bytes) {
  return reinterpret_cast<const unsigned char*>(bytes.data());
}
unsigned char* U8(std::span<std::byte> bytes) {
  return reinterpret_cast<unsigned char*>(bytes.data());
}

std::array<uint8_t, 32> Hmac(std::span<const uint8_t> key, std::span<const std::byte> a,
                             std::span<const std::byte> b = {}) {
  std::array<uint8_t, 32> out{};
  mbedtls_md_context_t ctx;
  mbedtls_md_init(&ctx);
  if (mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) == 0 &&
      mbedtls_md_hmac_starts(&ctx, key.data(), key.size()) == 0 &&
      mbedtls_md_hmac_update(&ctx, U8(a), a.size()) == 0 &&
      mbedtls_md_hmac_update(&ctx, U8(b), b.size()) == 0)
    (void)mbedtls_md_hmac_finish(&ctx, out.data());
  mbedtls_md_free(&ctx);
  return out;
}

std::array<std::byte, 16> AssociatedData(uint32_t id, uint32_t version) {
  std::array<std::byte, 16> aad{};
  for (size_t i = 0; i < kMagic.size(); ++i) aad[i] = static_cast<std::byte>(kMagic[i]);
  (void)base::StoreLe<uint32_t>(aad, 8, id);
  (void)base::StoreLe<uint32_t>(aad, 12, version);
  return aad;
}

// AES-256-GCM (NIST SP 800-38D) through mbedTLS.
class Gcm {
 public:
  explicit Gcm(std::span<const uint8_t, 32> key) {
    mbedtls_gcm_init(&ctx_);
    ok_ = mbedtls_gcm_setkey(&ctx_, MBEDTLS_CIPHER_ID_AES, key.data(), 256) == 0;
  }
  ~Gcm() { mbedtls_gcm_free(&ctx_); }
  Gcm(const Gcm&) = delete;
  Gcm& operator=(const Gcm&) = delete;

  bool Seal(std::span<const std::byte> nonce, std::span<const std::byte> aad,
            std::span<const std::byte> in, std::span<std::byte> out, std::span<std::byte> tag) {
    return ok_ && mbedtls_gcm_crypt_and_tag(&ctx_, MBEDTLS_GCM_ENCRYPT, in.size(), U8(nonce),
                                            nonce.size(), U8(aad), aad.size(), U8(in), U8(out),
                                            tag.size(), U8(tag)) == 0;
  }
  bool Open(std::span<const std::byte> nonce, std::span<const std::byte> aad,
            std::span<const std::byte> tag, std::span<const std::byte> in, std::span<std::byte> out) {
    return ok_ && mbedtls_gcm_auth_decrypt(&ctx_, in.size(), U8(nonce), nonce.size(), U8(aad),
                                           aad.size(), U8(tag), tag.size(), U8(in),
                                           U8(out)) == 0;
  }

 private:
  mbedtls_gcm_context ctx_;
  bool ok_ = false;
};

base::Result<uint32_t> ItemId(std::string_view name) {
  if (name == "permall") return GuestStateStore::kItemTpmPermanent;
  if (name == "volatilestate") return GuestStateStore::kItemTpmVolatile;
  if (name == "savestate") return GuestStateStore::kItemTpmSaveState;
  return base::Error("guest state: no item for TPM state \"" + std::string(name) + "\"");
}

base::Result<void> RandomBytes(std::span<std::byte> out) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t got = ::getrandom(out.data() + done, out.size() - done, 0);
    if (got < 0) return base::Error::FromErrno("getrandom", errno);
    done += static_cast<size_t>(got);
  }
  return base::Ok();
}

// The keys the format uses, each HMAC-SHA256(platform key, label).
constexpr std::string_view kEncryptionLabel = "hcl guest state v1: encryption";
constexpr std::string_view kIntegrityLabel = "hcl guest state v1: integrity";
std::array<uint8_t, 32> SubKey(const PlatformKey& key, std::string_view label) {
  return Hmac(key, std::as_bytes(std::span(label.data(), label.size())));
}

}  // namespace

GuestStateStore::GuestStateStore(BlockIo& io, const PlatformKey& key)
    : io_(io), encryption_key_(SubKey(key, kEncryptionLabel)),
      integrity_key_(SubKey(key, kIntegrityLabel)) {}

base::Result<std::unique_ptr<GuestStateStore>> GuestStateStore::Open(BlockIo& io,
                                                                     const PlatformKey& key) {
  if (io.size_bytes() < kMinDeviceBytes)
    return base::Error::Format("guest state: device of %llu bytes, want at least %llu (truncated?)",
                               static_cast<unsigned long long>(io.size_bytes()),
                               static_cast<unsigned long long>(kMinDeviceBytes));
  std::unique_ptr<GuestStateStore> store(new GuestStateStore(io, key));
  store->slot_bytes_ = io.size_bytes() / 2;
  std::array<uint64_t, 2> sequence{};
  std::array<bool, 2> blank{};
  std::array<std::optional<std::map<uint32_t, Item>>, 2> items;
  std::optional<base::Error> failure;
  for (size_t slot = 0; slot < 2; ++slot) {
    auto read = store->ReadSlot(slot, sequence[slot], blank[slot]);
    if (read.ok()) {
      items[slot] = std::move(read).value();
    } else if (!blank[slot] && !failure) {
      failure = std::move(read).error();
    }
  }
  if (blank[0] && blank[1]) {
    store->was_new_ = true;
    return store;
  }
  std::optional<size_t> best;
  for (size_t slot = 0; slot < 2; ++slot)
    if (items[slot] && (!best || sequence[slot] > sequence[*best])) best = slot;
  if (!best) return std::move(*failure);
  store->items_ = std::move(*items[*best]);
  store->sequence_ = sequence[*best];
  store->current_slot_ = static_cast<int>(*best);
  return store;
}

base::Result<std::map<uint32_t, GuestStateStore::Item>> GuestStateStore::ReadSlot(
    size_t slot, uint64_t& sequence, bool& blank) {
  const char* which = slot == 0 ? "A" : "B";
  const uint64_t base = slot * slot_bytes_;
  std::array<std::byte, kSlotHeaderBytes> header{};
  TRY(io_.Read(base, header));
  blank = std::all_of(header.begin(), header.end(), [](std::byte b) { return b == std::byte{0}; });
  if (blank) return base::Error::Format("guest state: slot %s is empty", which);
  if (!std::equal(kMagic.begin(), kMagic.end(), header.begin(),
                  [](char c, std::byte b) { return static_cast<std::byte>(c) == b; }))
    return base::Error::Format("guest state: slot %s is not a guest state (bad magic)", which);
  uint32_t version = 0, header_bytes = 0, body_bytes = 0, count = 0;
  (void)base::LoadLe(std::span<const std::byte>(header), 8, version);
  (void)base::LoadLe(std::span<const std::byte>(header), 12, header_bytes);
  (void)base::LoadLe(std::span<const std::byte>(header), 16, sequence);
  (void)base::LoadLe(std::span<const std::byte>(header), 24, body_bytes);
  (void)base::LoadLe(std::span<const std::byte>(header), 28, count);
  if (version != kFormatVersion || header_bytes != kSlotHeaderBytes)
    return base::Error::Format("guest state: slot %s has format %u, this hcl reads %u", which,
                               version, kFormatVersion);
  if (body_bytes > slot_bytes_ - kSlotHeaderBytes)
    return base::Error::Format("guest state: slot %s claims %u bytes, more than the slot holds",
                               which, body_bytes);
  std::vector<std::byte> body(body_bytes);
  TRY(io_.Read(base + kSlotHeaderBytes, body));
  const auto mac = Hmac(integrity_key_, std::span(header).first(kMacOffset), body);
  uint8_t difference = 0;  // compared in constant time
  for (size_t i = 0; i < mac.size(); ++i)
    difference = static_cast<uint8_t>(difference | (mac[i] ^ static_cast<uint8_t>(header[kMacOffset + i])));
  if (difference != 0)
    return base::Error::Format(
        "guest state: slot %s fails its integrity check (corrupted, or sealed to another image "
        "or platform secret)",
        which);
  std::map<uint32_t, Item> items;
  Gcm gcm(encryption_key_);
  size_t at = 0;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t id = 0, item_version = 0, bytes = 0;
    const std::span<const std::byte> rest = std::span<const std::byte>(body).subspan(at);
    if (rest.size() < kItemHeaderBytes || !base::LoadLe(rest, 0, id) ||
        !base::LoadLe(rest, 4, item_version) || !base::LoadLe(rest, 8, bytes) ||
        bytes > rest.size() - kItemHeaderBytes || items.count(id) != 0)
      return base::Error::Format("guest state: slot %s: item %u is malformed", which, i);
    Item item;
    item.version = item_version;
    item.plaintext.resize(bytes);
    const auto aad = AssociatedData(id, item_version);
    if (!gcm.Open(rest.subspan(12, kNonceBytes), aad, rest.subspan(24, kTagBytes),
                  rest.subspan(kItemHeaderBytes, bytes), item.plaintext))
      return base::Error::Format("guest state: slot %s: item %u does not decrypt", which, id);
    items.emplace(id, std::move(item));
    at += kItemHeaderBytes + bytes;
  }
  if (at != body.size())
    return base::Error::Format("guest state: slot %s has bytes after its items", which);
  return items;
}

base::Result<void> GuestStateStore::WriteLocked() {
  std::vector<std::byte> body;
  Gcm gcm(encryption_key_);
  for (const auto& [id, item] : items_) {
    std::vector<std::byte> record(kItemHeaderBytes + item.plaintext.size());
    (void)base::StoreLe<uint32_t>(record, 0, id);
    (void)base::StoreLe<uint32_t>(record, 4, item.version);
    (void)base::StoreLe<uint32_t>(record, 8, static_cast<uint32_t>(item.plaintext.size()));
    const std::span<std::byte> span(record);
    TRY(RandomBytes(span.subspan(12, kNonceBytes)));
    if (!gcm.Seal(span.subspan(12, kNonceBytes), AssociatedData(id, item.version), item.plaintext,
                  span.subspan(kItemHeaderBytes), span.subspan(24, kTagBytes)))
      return base::Error("guest state: encryption failed");
    body.insert(body.end(), record.begin(), record.end());
  }
  if (body.size() > slot_bytes_ - kSlotHeaderBytes)
    return base::Error::Format("guest state: %zu bytes of state do not fit a slot", body.size());
  const uint64_t sequence = sequence_ + 1;
  std::vector<std::byte> slot(kSlotHeaderBytes + body.size());
  std::transform(kMagic.begin(), kMagic.end(), slot.begin(),
                 [](char c) { return static_cast<std::byte>(c); });
  (void)base::StoreLe<uint32_t>(slot, 8, kFormatVersion);
  (void)base::StoreLe<uint32_t>(slot, 12, kSlotHeaderBytes);
  (void)base::StoreLe<uint64_t>(slot, 16, sequence);
  (void)base::StoreLe<uint32_t>(slot, 24, static_cast<uint32_t>(body.size()));
  (void)base::StoreLe<uint32_t>(slot, 28, static_cast<uint32_t>(items_.size()));
  std::copy(body.begin(), body.end(), slot.begin() + kSlotHeaderBytes);
  const auto mac = Hmac(integrity_key_, std::span(slot).first(kMacOffset), body);
  for (size_t i = 0; i < mac.size(); ++i) slot[kMacOffset + i] = std::byte{mac[i]};
  // Never the slot that holds the state now: a torn write leaves it whole.
  const int target = current_slot_ == 0 ? 1 : 0;
  TRY(io_.Write(static_cast<uint64_t>(target) * slot_bytes_, slot));
  TRY(io_.Flush());
  sequence_ = sequence;
  current_slot_ = target;
  return base::Ok();
}

base::Result<std::optional<std::vector<std::byte>>> GuestStateStore::Load(std::string_view name) {
  const uint32_t id = TRY(ItemId(name));
  std::lock_guard lock(mutex_);
  auto it = items_.find(id);
  if (it == items_.end()) return std::optional<std::vector<std::byte>>();
  return std::optional(it->second.plaintext);
}

base::Result<void> GuestStateStore::ReplaceLocked(uint32_t id, std::optional<Item> item) {
  std::optional<Item> old;
  if (auto it = items_.find(id); it != items_.end()) old = std::move(it->second);
  const auto put = [&](std::optional<Item> value) {
    if (value) items_[id] = std::move(*value);
    else items_.erase(id);
  };
  put(std::move(item));
  auto written = WriteLocked();
  if (!written.ok()) put(std::move(old));  // the device still holds the old state: so does memory
  return written;
}

base::Result<void> GuestStateStore::Store(std::string_view name, std::span<const std::byte> blob) {
  const uint32_t id = TRY(ItemId(name));
  std::lock_guard lock(mutex_);
  Item item;
  if (auto it = items_.find(id); it != items_.end()) item.version = it->second.version;
  item.plaintext.assign(blob.begin(), blob.end());
  return ReplaceLocked(id, std::move(item));
}

base::Result<void> GuestStateStore::Delete(std::string_view name) {
  const uint32_t id = TRY(ItemId(name));
  std::lock_guard lock(mutex_);
  if (!items_.contains(id)) return base::Ok();
  return ReplaceLocked(id, std::nullopt);
}

void GuestStateStore::SealSlotForTesting(const PlatformKey& key, std::span<std::byte> slot) {
  if (slot.size() < kSlotHeaderBytes) return;
  const auto mac =
      Hmac(SubKey(key, kIntegrityLabel), slot.first(kMacOffset), slot.subspan(kSlotHeaderBytes));
  for (size_t i = 0; i < mac.size(); ++i) slot[kMacOffset + i] = std::byte{mac[i]};
}

uint64_t GuestStateStore::sequence() const {
  std::lock_guard lock(mutex_);
  return sequence_;
}

}  // namespace hcl::vtpm
