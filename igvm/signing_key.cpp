#include "signing_key.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "digest.h"

namespace igvm {
namespace {

constexpr uint32_t kCurveP384 = 2;  // SNP ABI: ECC curve ID for P-384

base::Error MbedError(const char* what, int code) {
  char text[128];
  mbedtls_strerror(code, text, sizeof text);
  return base::Error::Format("%s: %s", what, text);
}

// RAII holders for the mbedTLS objects we need.
struct Mpi {
  Mpi() { mbedtls_mpi_init(&value); }
  ~Mpi() { mbedtls_mpi_free(&value); }
  mbedtls_mpi value;
};

struct Random {
  Random() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
  }
  ~Random() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  base::Result<void> Seed() {
    static const char kPersonal[] = "hcl-igvm-signing";
    const int rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                                         reinterpret_cast<const unsigned char*>(kPersonal),
                                         sizeof kPersonal - 1);
    if (rc != 0) return MbedError("seeding the random generator", rc);
    return base::Ok();
  }
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
};

// The SNP ABI form of a P-384 public key: curve 2, little-endian
// coordinates (48-byte coordinates always fit the 72-byte fields).
wire::SnpPublicKey SnpPublicKeyOf(const mbedtls_ecp_keypair& keypair) {
  wire::SnpPublicKey key{};
  key.curve = kCurveP384;
  mbedtls_mpi_write_binary_le(&keypair.Q.X, key.qx, sizeof key.qx);
  mbedtls_mpi_write_binary_le(&keypair.Q.Y, key.qy, sizeof key.qy);
  return key;
}

}  // namespace

struct EcdsaP384Key::State {
  State() { mbedtls_pk_init(&pk); }
  ~State() { mbedtls_pk_free(&pk); }
  mbedtls_ecp_keypair* keypair() const { return mbedtls_pk_ec(pk); }
  mbedtls_pk_context pk;
};

EcdsaP384Key::EcdsaP384Key(std::unique_ptr<State> state) : state_(std::move(state)) {}
EcdsaP384Key::EcdsaP384Key(EcdsaP384Key&&) noexcept = default;
EcdsaP384Key& EcdsaP384Key::operator=(EcdsaP384Key&&) noexcept = default;
EcdsaP384Key::~EcdsaP384Key() = default;

base::Result<EcdsaP384Key> EcdsaP384Key::Generate() {
  auto state = std::make_unique<State>();
  Random random;
  TRY(random.Seed());
  int rc = mbedtls_pk_setup(&state->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (rc != 0) return MbedError("creating a key", rc);
  rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP384R1, state->keypair(), mbedtls_ctr_drbg_random,
                           &random.drbg);
  if (rc != 0) return MbedError("generating a P-384 key", rc);
  return EcdsaP384Key(std::move(state));
}

base::Result<EcdsaP384Key> EcdsaP384Key::LoadPem(const std::string& path) {
  auto state = std::make_unique<State>();
  const int rc = mbedtls_pk_parse_keyfile(&state->pk, path.c_str(), nullptr);
  if (rc != 0) return MbedError(("reading key " + path).c_str(), rc);
  if (mbedtls_pk_get_type(&state->pk) != MBEDTLS_PK_ECKEY)
    return base::Error(path + " is not an elliptic-curve private key");
  const mbedtls_ecp_keypair* keypair = state->keypair();
  if (keypair == nullptr || keypair->grp.id != MBEDTLS_ECP_DP_SECP384R1)
    return base::Error(path + " is not an ECDSA P-384 private key");
  return EcdsaP384Key(std::move(state));
}

base::Result<EcdsaP384Key> EcdsaP384Key::FromPrivateScalar(std::span<const uint8_t> d) {
  auto state = std::make_unique<State>();
  int rc = mbedtls_pk_setup(&state->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (rc != 0) return MbedError("creating a key", rc);
  mbedtls_ecp_keypair* keypair = state->keypair();
  rc = mbedtls_ecp_read_key(MBEDTLS_ECP_DP_SECP384R1, keypair, d.data(), d.size());
  if (rc != 0) return MbedError("reading the private scalar", rc);
  Random random;
  TRY(random.Seed());
  rc = mbedtls_ecp_mul(&keypair->grp, &keypair->Q, &keypair->d, &keypair->grp.G,
                       mbedtls_ctr_drbg_random, &random.drbg);
  if (rc != 0) return MbedError("deriving the public key", rc);
  return EcdsaP384Key(std::move(state));
}

base::Result<void> EcdsaP384Key::WritePem(const std::string& path) const {
  unsigned char pem[4096];
  const int rc = mbedtls_pk_write_key_pem(&state_->pk, pem, sizeof pem);
  if (rc != 0) return MbedError("encoding the key", rc);
  // Private key: readable by the owner only, created that way (no window).
  const mode_t old_mask = ::umask(077);
  std::ofstream out(path, std::ios::trunc);
  ::umask(old_mask);
  if (!out) return base::Error::FromErrno("cannot create " + path, errno);
  out << reinterpret_cast<const char*>(pem);
  if (!out.flush()) return base::Error("write failed: " + path);
  return base::Ok();
}

base::Result<std::string> EcdsaP384Key::PublicKeyPem() const {
  unsigned char pem[1024];
  const int rc = mbedtls_pk_write_pubkey_pem(&state_->pk, pem, sizeof pem);
  if (rc != 0) return MbedError("encoding the public key", rc);
  return std::string(reinterpret_cast<const char*>(pem));
}

base::Result<wire::SnpSignature> EcdsaP384Key::Sign(std::span<const std::byte> message) const {
  const Sha384Digest hash = Sha384Of(message);
  Mpi r, s;
  Random random;  // only blinds the computation; the nonce is RFC 6979's
  TRY(random.Seed());
  mbedtls_ecp_keypair* keypair = state_->keypair();
  const int rc = mbedtls_ecdsa_sign_det_ext(&keypair->grp, &r.value, &s.value, &keypair->d,
                                            hash.data(), hash.size(), MBEDTLS_MD_SHA384,
                                            mbedtls_ctr_drbg_random, &random.drbg);
  if (rc != 0) return MbedError("signing", rc);
  wire::SnpSignature signature{};
  if (mbedtls_mpi_write_binary_le(&r.value, signature.r_comp, sizeof signature.r_comp) != 0 ||
      mbedtls_mpi_write_binary_le(&s.value, signature.s_comp, sizeof signature.s_comp) != 0)
    return base::Error("signature component does not fit 72 bytes");
  return signature;
}

wire::SnpPublicKey EcdsaP384Key::PublicKey() const { return SnpPublicKeyOf(*state_->keypair()); }

base::Result<wire::SnpPublicKey> LoadPublicKeyPem(const std::string& path) {
  struct Pk {
    Pk() { mbedtls_pk_init(&pk); }
    ~Pk() { mbedtls_pk_free(&pk); }
    mbedtls_pk_context pk;
  };
  Pk key;
  int rc = mbedtls_pk_parse_public_keyfile(&key.pk, path.c_str());
  if (rc != 0) {
    mbedtls_pk_free(&key.pk);
    mbedtls_pk_init(&key.pk);
    rc = mbedtls_pk_parse_keyfile(&key.pk, path.c_str(), nullptr);
  }
  if (rc != 0) return MbedError(("reading key " + path).c_str(), rc);
  if (mbedtls_pk_get_type(&key.pk) != MBEDTLS_PK_ECKEY)
    return base::Error(path + " is not an elliptic-curve key");
  const mbedtls_ecp_keypair* keypair = mbedtls_pk_ec(key.pk);
  if (keypair == nullptr || keypair->grp.id != MBEDTLS_ECP_DP_SECP384R1)
    return base::Error(path + " is not an ECDSA P-384 key");
  return SnpPublicKeyOf(*keypair);
}

base::Result<void> VerifyP384(const wire::SnpPublicKey& key, std::span<const std::byte> message,
                              const wire::SnpSignature& signature) {
  if (key.curve != kCurveP384) return base::Error::Format("key curve %u is not P-384", key.curve);
  mbedtls_ecp_group group;
  mbedtls_ecp_group_init(&group);
  mbedtls_ecp_point point;
  mbedtls_ecp_point_init(&point);
  Mpi r, s;
  base::Result<void> result = base::Ok();
  const Sha384Digest hash = Sha384Of(message);
  if (mbedtls_ecp_group_load(&group, MBEDTLS_ECP_DP_SECP384R1) != 0 ||
      mbedtls_mpi_read_binary_le(&point.X, key.qx, sizeof key.qx) != 0 ||
      mbedtls_mpi_read_binary_le(&point.Y, key.qy, sizeof key.qy) != 0 ||
      mbedtls_mpi_lset(&point.Z, 1) != 0 ||
      mbedtls_mpi_read_binary_le(&r.value, signature.r_comp, sizeof signature.r_comp) != 0 ||
      mbedtls_mpi_read_binary_le(&s.value, signature.s_comp, sizeof signature.s_comp) != 0) {
    result = base::Error("cannot decode the key or signature");
  } else if (mbedtls_ecp_check_pubkey(&group, &point) != 0) {
    result = base::Error("public key is not a point on P-384");
  } else if (mbedtls_ecdsa_verify(&group, hash.data(), hash.size(), &point, &r.value,
                                  &s.value) != 0) {
    result = base::Error("signature does not verify");
  }
  mbedtls_ecp_point_free(&point);
  mbedtls_ecp_group_free(&group);
  return result;
}

}  // namespace igvm
