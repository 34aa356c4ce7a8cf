// CertificateAuthority's shared mode (--store=etcd): the self-managed CA as
// one record, "ca/state" under the store's prefix, that every replica loads
// and changes only by compare-and-swap on its revision. Certificates are
// stored as PEM; private keys only sealed under the KEK (key_seal.h), bound
// to the record key, trust domain, generation and role.
#include <openssl/crypto.h>
#include <openssl/err.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "control/ca/ca_generation.h"
#include "control/ca/certificate_authority.h"
#include "control/ca/key_seal.h"
#include "control/state/shared_record.h"
#include "control/state/state_files.h"
#include "identity/certificate.h"
#include "identity/keys.h"
#include "identity/spiffe_id.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::ca {
namespace {

constexpr char kKind[] = "ca";
constexpr int kCreateAttempts = 4;

// Private key PEM wiped once sealed or parsed.
struct SecretString {
  std::string text;
  ~SecretString() { OPENSSL_cleanse(text.data(), text.size()); }
};

bool SignedBy(X509* cert, X509* issuer) {
  bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(issuer));
  const bool ok = key != nullptr && X509_verify(cert, key.get()) == 1;
  ERR_clear_error();
  return ok;
}

bssl::UniquePtr<EVP_PKEY> RefKey(EVP_PKEY* key) {
  if (key != nullptr) EVP_PKEY_up_ref(key);
  return bssl::UniquePtr<EVP_PKEY>(key);
}

}  // namespace

CertificateAuthority::Snapshot CertificateAuthority::Save() const {
  Snapshot s;
  s.active = active_;
  s.bundle_version = bundle_version_;
  s.revision = revision_;
  for (const auto& g : generations_) {
    auto copy = std::make_unique<Generation>();
    copy->number = g->number;
    copy->in_bundle = g->in_bundle;
    copy->root = bssl::UpRef(g->root.get());
    copy->root_key = RefKey(g->root_key.get());
    copy->intermediate = bssl::UpRef(g->intermediate.get());
    copy->intermediate_key = RefKey(g->intermediate_key.get());
    for (const auto& c : g->chain_above) copy->chain_above.push_back(bssl::UpRef(c.get()));
    for (const auto& c : g->extra_roots) copy->extra_roots.push_back(bssl::UpRef(c.get()));
    copy->root_fingerprint = g->root_fingerprint;
    copy->intermediate_name = g->intermediate_name;
    copy->checksums = g->checksums;
    s.generations.push_back(std::move(copy));
  }
  return s;
}

void CertificateAuthority::Restore(Snapshot snapshot) {
  generations_ = std::move(snapshot.generations);
  active_ = snapshot.active;
  bundle_version_ = snapshot.bundle_version;
  revision_ = snapshot.revision;
}

absl::StatusOr<std::string> CertificateAuthority::EncodeShared() const {
  const std::string key = store_->FullKey(kSharedKey);
  nlohmann::json gens = nlohmann::json::array();
  for (const auto& g : generations_) {
    nlohmann::json entry = {{"number", g->number},
                            {"in_bundle", g->in_bundle},
                            {"root", identity::CertificateToPem(g->root.get())},
                            {"intermediate", identity::CertificateToPem(g->intermediate.get())}};
    for (const auto& [role, pkey] : {std::pair<const char*, EVP_PKEY*>{"root", g->root_key.get()},
                                     {"intermediate", g->intermediate_key.get()}}) {
      SecretString pem;
      ASSIGN_OR_RETURN(pem.text, identity::PrivateKeyToPem(pkey));
      ASSIGN_OR_RETURN(std::string sealed,
                       Seal(kek_, SealBinding(key, trust_domain_, g->number, role), pem.text));
      entry[absl::StrCat(role, "_key_sealed")] = std::move(sealed);
    }
    gens.push_back(std::move(entry));
  }
  return state::EncodeSharedRecord(kKind, {{"trust_domain", trust_domain_},
                                           {"bundle_version", bundle_version_},
                                           {"active", active_},
                                           {"generations", std::move(gens)}});
}

absl::Status CertificateAuthority::InstallShared(const state::StoredRecord& record,
                                                 absl::Time now) {
  const std::string& key = record.key;
  auto refuse = [&key](absl::string_view what) { return state::MalformedRecord(key, what); };
  ASSIGN_OR_RETURN(nlohmann::json doc, state::DecodeSharedRecord(key, record.value, kKind));
  if (!doc.contains("trust_domain") || !doc["trust_domain"].is_string()) {
    return refuse("no \"trust_domain\"");
  }
  if (doc["trust_domain"].get<std::string>() != trust_domain_) {
    return refuse(absl::StrCat("a CA for trust domain \"", doc["trust_domain"].get<std::string>(),
                               "\", not \"", trust_domain_,
                               "\" (another trust domain's prefix? see --etcd_prefix)"));
  }
  if (!doc.contains("bundle_version") || !doc["bundle_version"].is_number_unsigned() ||
      !doc.contains("active") || !doc["active"].is_number_integer() ||
      !doc.contains("generations") || !doc["generations"].is_array() ||
      doc["generations"].empty()) {
    return refuse("missing or malformed \"bundle_version\", \"active\" or \"generations\"");
  }
  std::vector<std::unique_ptr<Generation>> gens;
  for (const nlohmann::json& g : doc["generations"]) {
    if (!g.is_object() || !g.contains("number") || !g["number"].is_number_integer() ||
        !g.contains("in_bundle") || !g["in_bundle"].is_boolean()) {
      return refuse("a generation without an integer \"number\" and a boolean \"in_bundle\"");
    }
    auto gen = std::make_unique<Generation>();
    gen->number = g["number"].get<int>();
    gen->in_bundle = g["in_bundle"].get<bool>();
    const std::string where = absl::StrCat("generation ", gen->number);
    for (const auto& [role, cert, pkey] :
         {std::tuple<const char*, bssl::UniquePtr<X509>*, bssl::UniquePtr<EVP_PKEY>*>{
              "root", &gen->root, &gen->root_key},
          {"intermediate", &gen->intermediate, &gen->intermediate_key}}) {
      const std::string sealed_field = absl::StrCat(role, "_key_sealed");
      if (!g.contains(role) || !g[role].is_string() || !g.contains(sealed_field) ||
          !g[sealed_field].is_string()) {
        return refuse(absl::StrCat(where, ": \"", role, "\" or \"", sealed_field,
                                   "\" missing or not a string"));
      }
      absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> certs =
          identity::ParsePemCertificates(g[role].get<std::string>());
      if (!certs.ok() || certs->size() != 1) {
        return refuse(absl::StrCat(where, ": \"", role, "\" is not one PEM certificate"));
      }
      *cert = std::move((*certs)[0]);
      SecretString pem;
      absl::StatusOr<std::string> opened =
          Unseal(kek_, SealBinding(key, trust_domain_, gen->number, role),
                 g[sealed_field].get<std::string>());
      if (!opened.ok()) {
        return refuse(
            absl::StrCat("the ", role, " key of ", where, " ", opened.status().message()));
      }
      pem.text = *std::move(opened);
      absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> parsed = identity::ParsePrivateKeyPem(pem.text);
      if (!parsed.ok()) {
        return refuse(absl::StrCat("the ", role, " key of ", where, " opens but is not a key"));
      }
      *pkey = *std::move(parsed);
      if (!identity::KeyMatchesCertificate(pkey->get(), cert->get())) {
        return refuse(
            absl::StrCat("the ", role, " key of ", where, " does not match its certificate"));
      }
    }
    if (!SignedBy(gen->root.get(), gen->root.get())) {
      return refuse(absl::StrCat(where, ": the root is not self-signed"));
    }
    if (!SignedBy(gen->intermediate.get(), gen->root.get())) {
      return refuse(absl::StrCat(where, ": the intermediate is not signed by its root"));
    }
    absl::StatusOr<identity::SpiffeId> td = identity::SpiffeIdOf(gen->root.get());
    if (!td.ok() || td->trust_domain() != trust_domain_) {
      return refuse(absl::StrCat(where, ": the root does not name trust domain ", trust_domain_));
    }
    if (identity::NotAfter(gen->root.get()) <= now) {
      return refuse(absl::StrCat(where, ": the root has expired"));
    }
    gen->root_fingerprint = identity::Sha256Fingerprint(gen->root.get());
    gens.push_back(std::move(gen));
  }
  const int active = doc["active"].get<int>();
  const Generation* active_gen = nullptr;
  for (const auto& g : gens) {
    if (g->number == active) active_gen = g.get();
  }
  if (active_gen == nullptr) {
    return refuse(absl::StrCat("active generation ", active, " is not listed"));
  }
  if (!active_gen->in_bundle) return refuse("the active generation's root is not in the bundle");
  generations_ = std::move(gens);
  active_ = active;
  bundle_version_ = doc["bundle_version"].get<uint64_t>();
  revision_ = record.revision;
  return absl::OkStatus();
}

void CertificateAuthority::SetLeaderWrites(state::LeaderWrites* writes) {
  sync::MutexLock lock(&mu_);
  leader_writes_ = writes;
}

absl::StatusOr<bool> CertificateAuthority::CommitShared(bool as_leader) {
  ASSIGN_OR_RETURN(std::string value, EncodeShared());
  int64_t revision = 0;
  const bool fenced = as_leader && leader_writes_ != nullptr;
  ASSIGN_OR_RETURN(bool written, fenced ? leader_writes_->PutIfLeading(store_->FullKey(kSharedKey),
                                                                       value, revision_, &revision)
                                        : store_->PutIf(kSharedKey, value, revision_, &revision));
  if (written) {
    revision_ = revision;
    return true;
  }
  // Another replica made a step first: take its record, do not redo ours.
  ASSIGN_OR_RETURN(std::optional<state::StoredRecord> stored, store_->Get(kSharedKey));
  if (!stored.has_value()) {
    return state::MalformedRecord(store_->FullKey(kSharedKey),
                                  "deleted while this replica holds the CA; not re-created");
  }
  // Unchanged, so the fence refused it: the step is the new leader's.
  if (fenced && stored->revision == revision_) {
    return absl::AbortedError(absl::StrCat(
        "not_leader: this replica no longer leads; its write of store record \"", stored->key,
        "\" was refused (fenced on the leader key), the step is left "
        "to the current leader"));
  }
  RETURN_IF_ERROR(InstallShared(*stored, absl::Now()));
  return false;
}

absl::StatusOr<bool> CertificateAuthority::Persist(bool as_leader) {
  if (!shared()) {
    RETURN_IF_ERROR(WriteManifest());
    RETURN_IF_ERROR(WriteBundleFile());
    return true;
  }
  ASSIGN_OR_RETURN(bool written, CommitShared(as_leader));
  // A local copy for operators; the record is what counts.
  (void)WriteBundleFile();
  return written;
}

absl::StatusOr<std::unique_ptr<CertificateAuthority>> CertificateAuthority::OpenShared(
    const SharedOptions& options, absl::Time now) {
  RETURN_IF_ERROR(identity::ValidateTrustDomain(options.trust_domain));
  if (options.store == nullptr) return absl::InvalidArgumentError("no shared store");
  if (options.kek.size() != kKekBytes) {
    return absl::InvalidArgumentError("--ca_kek_file: the key-encryption key must be 32 bytes");
  }
  std::unique_ptr<CertificateAuthority> ca(
      new CertificateAuthority(options.trust_domain, true, options.state_dir));
  ca->options_ = {options.trust_domain, options.state_dir, options.root_ttl,
                  options.intermediate_ttl};
  ca->store_ = options.store;
  ca->kek_ = options.kek;
  sync::MutexLock lock(&ca->mu_);
  bool loaded = false;
  for (int attempt = 0; attempt < kCreateAttempts && !loaded; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<state::StoredRecord> stored, options.store->Get(kSharedKey));
    if (stored.has_value()) {
      RETURN_IF_ERROR(ca->InstallShared(*stored, now));
      loaded = true;
      break;
    }
    // First start: whoever creates the record first makes the CA.
    ca->generations_.clear();
    RETURN_IF_ERROR(ca->CreateGeneration(1, now));
    ca->active_ = 1;
    ca->bundle_version_ = 1;
    ASSIGN_OR_RETURN(std::string value, ca->EncodeShared());
    int64_t revision = 0;
    ASSIGN_OR_RETURN(bool created, options.store->PutIf(kSharedKey, value, 0, &revision));
    if (created) {
      ca->revision_ = revision;
      loaded = true;
    }
  }
  if (!loaded) {
    return absl::AbortedError(absl::StrCat("store record \"", options.store->FullKey(kSharedKey),
                                           "\" kept changing; try again"));
  }
  if (!options.state_dir.empty()) RETURN_IF_ERROR(ca->WriteBundleFile());
  return ca;
}

absl::StatusOr<bool> CertificateAuthority::ReloadFromStore(
    const std::vector<state::StoredRecord>& records, absl::Time now) {
  if (!shared()) return false;
  const std::string key = store_->FullKey(kSharedKey);
  const state::StoredRecord* record = nullptr;
  for (const state::StoredRecord& r : records) {
    if (r.key == key) record = &r;
  }
  sync::MutexLock lock(&mu_);
  if (record == nullptr) {
    return state::MalformedRecord(
        key, "deleted from the store; this replica keeps the CA it holds (restore the record)");
  }
  // This replica's own write, or an older state than the one it holds.
  if (record->revision <= revision_) return false;
  RETURN_IF_ERROR(InstallShared(*record, now));
  if (!state_dir_.empty()) (void)WriteBundleFile();
  return true;
}

}  // namespace palisade::control::ca
