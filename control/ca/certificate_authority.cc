#include "control/ca/certificate_authority.h"

#include <dirent.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "control/ca/ca_generation.h"
#include "control/state/state_files.h"
#include "control/state/state_permissions.h"
#include "identity/certificate.h"
#include "identity/keys.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"
#include "runtime/files/files.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::ca {
namespace {

constexpr int kManifestFormat = 1;
constexpr char kRootPem[] = "root.pem";
constexpr char kRootKey[] = "root.key";
constexpr char kIntermediatePem[] = "intermediate.pem";
constexpr char kIntermediateKey[] = "intermediate.key";

std::string Sha256Hex(absl::string_view data) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

absl::Status Refuse(const std::string& file, absl::string_view problem) {
  return absl::FailedPreconditionError(absl::StrCat(
      "CA state ", file, ": ", problem,
      "; refusing to start (restore the state directory from a backup, or remove it to make a "
      "new root that no proxy trusts yet)"));
}

bool SignedBy(X509* cert, X509* issuer) {
  bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(issuer));
  const bool ok = key != nullptr && X509_verify(cert, key.get()) == 1;
  ERR_clear_error();
  return ok;
}

// Names the directory entries of `dir` (empty when it does not exist).
std::vector<std::string> ListDirectory(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

// Shared: a step lost to other replicas this many times in a row gives up
// (the caller retries later).
constexpr int kSharedStepAttempts = 4;

absl::Status KeptChanging() {
  return absl::AbortedError("the shared CA record kept changing under this step; will retry");
}

}  // namespace

CertificateAuthority::CertificateAuthority(std::string trust_domain, bool self_managed,
                                           std::string state_dir)
    : trust_domain_(std::move(trust_domain)),
      self_managed_(self_managed),
      state_dir_(std::move(state_dir)) {}

CertificateAuthority::~CertificateAuthority() = default;

absl::StatusOr<std::unique_ptr<CertificateAuthority>> CertificateAuthority::OpenSelfManaged(
    const SelfManagedOptions& options, absl::Time now) {
  RETURN_IF_ERROR(identity::ValidateTrustDomain(options.trust_domain));
  std::unique_ptr<CertificateAuthority> ca(
      new CertificateAuthority(options.trust_domain, true, options.state_dir));
  ca->options_ = options;
  const std::string ca_dir = state::JoinPath(options.state_dir, "ca");
  RETURN_IF_ERROR(state::EnsureDirectory(ca_dir, 0700));
  sync::MutexLock lock(&ca->mu_);
  const std::string manifest = state::JoinPath(ca_dir, "manifest.json");
  if (state::PathExists(manifest)) {
    RETURN_IF_ERROR(ca->LoadManifest(now));
  } else {
    const std::vector<std::string> entries = ListDirectory(ca_dir);
    if (!entries.empty()) {
      return Refuse(manifest,
                    absl::StrCat("missing while ", ca_dir, " holds ", absl::StrJoin(entries, ", "),
                                 " (half-written state from an interrupted first start)"));
    }
    RETURN_IF_ERROR(ca->CreateGeneration(1, now));
    ca->active_ = 1;
    ca->bundle_version_ = 1;
    RETURN_IF_ERROR(ca->WriteManifest());
  }
  RETURN_IF_ERROR(ca->WriteBundleFile());
  return ca;
}

absl::Status CertificateAuthority::CreateGeneration(int number, absl::Time now) {
  auto gen = std::make_unique<Generation>();
  gen->number = number;
  ASSIGN_OR_RETURN(bssl::UniquePtr<EVP_PKEY> root_key, identity::GenerateP256Key());
  identity::CaOptions root_options;
  root_options.trust_domain = trust_domain_;
  root_options.common_name = absl::StrCat("Palisade root ", number);
  root_options.now = now - absl::Minutes(5);
  root_options.ttl = options_.root_ttl;
  root_options.path_len = 1;
  root_options.name_constrain_to_trust_domain = true;
  ASSIGN_OR_RETURN(bssl::UniquePtr<X509> root,
                   identity::CreateSelfSignedRoot(root_key.get(), root_options));
  ASSIGN_OR_RETURN(bssl::UniquePtr<EVP_PKEY> int_key, identity::GenerateP256Key());
  identity::CaOptions int_options = root_options;
  int_options.common_name = absl::StrCat("Palisade intermediate ", number);
  int_options.ttl = options_.intermediate_ttl;
  int_options.path_len = 0;
  int_options.name_constrain_to_trust_domain = false;
  ASSIGN_OR_RETURN(bssl::UniquePtr<X509> intermediate,
                   identity::CreateIntermediate(
                       int_key.get(), identity::Issuer{root.get(), root_key.get()}, int_options));

  // Shared: the record (sealed keys) is the only copy; no files.
  if (store_ == nullptr) {
    const std::string dir =
        state::JoinPath(state::JoinPath(state_dir_, "ca"), absl::StrCat("gen-", number));
    RETURN_IF_ERROR(state::EnsureDirectory(dir, 0700));
    ASSIGN_OR_RETURN(std::string root_key_pem, identity::PrivateKeyToPem(root_key.get()));
    ASSIGN_OR_RETURN(std::string int_key_pem, identity::PrivateKeyToPem(int_key.get()));
    const std::vector<std::tuple<const char*, std::string, mode_t>> files = {
        {kRootPem, identity::CertificateToPem(root.get()), 0600},
        {kRootKey, root_key_pem, 0600},
        {kIntermediatePem, identity::CertificateToPem(intermediate.get()), 0600},
        {kIntermediateKey, int_key_pem, 0600},
    };
    for (const auto& [name, contents, mode] : files) {
      RETURN_IF_ERROR(state::WriteFileAtomically(state::JoinPath(dir, name), contents, mode));
      gen->checksums[name] = Sha256Hex(contents);
    }
  }
  gen->root_fingerprint = identity::Sha256Fingerprint(root.get());
  gen->root = std::move(root);
  gen->root_key = std::move(root_key);
  gen->intermediate = std::move(intermediate);
  gen->intermediate_key = std::move(int_key);
  generations_.push_back(std::move(gen));
  return absl::OkStatus();
}

absl::Status CertificateAuthority::LoadManifest(absl::Time now) {
  const std::string ca_dir = state::JoinPath(state_dir_, "ca");
  const std::string manifest_path = state::JoinPath(ca_dir, "manifest.json");
  absl::StatusOr<std::string> text = state::ReadStateFile(manifest_path);
  // A permission refusal carries its own fix; a new root is not it.
  if (absl::IsPermissionDenied(text.status())) return text.status();
  if (!text.ok()) return Refuse(manifest_path, text.status().message());
  nlohmann::json manifest = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.is_object()) {
    return Refuse(manifest_path, "not valid JSON (corrupt or truncated)");
  }
  if (!manifest.contains("format") || manifest["format"] != kManifestFormat) {
    return Refuse(manifest_path, "unknown or missing \"format\"");
  }
  if (!manifest.contains("trust_domain") || !manifest["trust_domain"].is_string()) {
    return Refuse(manifest_path, "missing \"trust_domain\"");
  }
  if (manifest["trust_domain"].get<std::string>() != trust_domain_) {
    return Refuse(manifest_path, absl::StrCat("made for trust domain \"",
                                              manifest["trust_domain"].get<std::string>(),
                                              "\", not \"", trust_domain_, "\""));
  }
  if (!manifest.contains("bundle_version") || !manifest["bundle_version"].is_number_unsigned() ||
      !manifest.contains("active") || !manifest["active"].is_number_integer() ||
      !manifest.contains("generations") || !manifest["generations"].is_array() ||
      manifest["generations"].empty()) {
    return Refuse(manifest_path, "missing or malformed bundle_version, active or generations");
  }
  bundle_version_ = manifest["bundle_version"].get<uint64_t>();
  active_ = manifest["active"].get<int>();
  for (const nlohmann::json& g : manifest["generations"]) {
    if (!g.is_object() || !g.contains("number") || !g["number"].is_number_integer() ||
        !g.contains("files") || !g["files"].is_object()) {
      return Refuse(manifest_path, "malformed generation entry");
    }
    auto gen = std::make_unique<Generation>();
    gen->number = g["number"].get<int>();
    if (g.contains("in_bundle") && !g["in_bundle"].is_boolean()) {
      return Refuse(manifest_path, "\"in_bundle\" is not a boolean");
    }
    gen->in_bundle = !g.contains("in_bundle") || g["in_bundle"].get<bool>();
    const std::string dir = state::JoinPath(ca_dir, absl::StrCat("gen-", gen->number));
    // Whoever may write here may swap a key in between our reads.
    RETURN_IF_ERROR(state::CheckStateDirectory(dir));
    if (g.contains("intermediate")) {
      if (!g["intermediate"].is_string() || g["intermediate"].get<std::string>().empty() ||
          g["intermediate"].get<std::string>().find('/') != std::string::npos) {
        return Refuse(manifest_path, "malformed \"intermediate\" name");
      }
      gen->intermediate_name = g["intermediate"].get<std::string>();
    }
    const std::string int_pem = gen->intermediate_name + ".pem";
    const std::string int_key_file = gen->intermediate_name + ".key";
    std::map<std::string, std::string> contents;
    for (const std::string& name :
         {std::string(kRootPem), std::string(kRootKey), int_pem, int_key_file}) {
      const std::string path = state::JoinPath(dir, name);
      if (!g["files"].contains(name) || !g["files"][name].is_string()) {
        return Refuse(manifest_path, absl::StrCat("no checksum for ", path));
      }
      absl::StatusOr<std::string> data = state::ReadStateFile(path);
      if (absl::IsPermissionDenied(data.status())) return data.status();
      if (!data.ok()) {
        return Refuse(path, absl::IsNotFound(data.status()) ? "missing (half-written state)"
                                                            : std::string(data.status().message()));
      }
      if (Sha256Hex(*data) != g["files"][name].get<std::string>()) {
        return Refuse(path,
                      "content does not match the manifest's SHA-256 (corrupt or "
                      "half-written)");
      }
      gen->checksums[name] = Sha256Hex(*data);
      contents[name] = *std::move(data);
    }
    auto root = identity::ParsePemCertificates(contents[kRootPem]);
    if (!root.ok() || root->size() != 1) {
      return Refuse(state::JoinPath(dir, kRootPem), "not exactly one PEM certificate");
    }
    auto intermediate = identity::ParsePemCertificates(contents[int_pem]);
    if (!intermediate.ok() || intermediate->size() != 1) {
      return Refuse(state::JoinPath(dir, int_pem), "not exactly one PEM certificate");
    }
    auto root_key = identity::ParsePrivateKeyPem(contents[kRootKey]);
    if (!root_key.ok()) return Refuse(state::JoinPath(dir, kRootKey), root_key.status().message());
    auto int_key = identity::ParsePrivateKeyPem(contents[int_key_file]);
    if (!int_key.ok())
      return Refuse(state::JoinPath(dir, int_key_file), int_key.status().message());
    gen->root = std::move((*root)[0]);
    gen->intermediate = std::move((*intermediate)[0]);
    gen->root_key = *std::move(root_key);
    gen->intermediate_key = *std::move(int_key);
    if (!identity::KeyMatchesCertificate(gen->root_key.get(), gen->root.get())) {
      return Refuse(state::JoinPath(dir, kRootKey), "does not match root.pem");
    }
    if (!identity::KeyMatchesCertificate(gen->intermediate_key.get(), gen->intermediate.get())) {
      return Refuse(state::JoinPath(dir, int_key_file), absl::StrCat("does not match ", int_pem));
    }
    if (!SignedBy(gen->root.get(), gen->root.get())) {
      return Refuse(state::JoinPath(dir, kRootPem), "not self-signed");
    }
    if (!SignedBy(gen->intermediate.get(), gen->root.get())) {
      return Refuse(state::JoinPath(dir, int_pem), "not signed by root.pem");
    }
    absl::StatusOr<identity::SpiffeId> td = identity::SpiffeIdOf(gen->root.get());
    if (!td.ok() || td->trust_domain() != trust_domain_) {
      return Refuse(state::JoinPath(dir, kRootPem), "does not name the trust domain");
    }
    if (identity::NotAfter(gen->root.get()) <= now) {
      return Refuse(state::JoinPath(dir, kRootPem), "has expired");
    }
    gen->root_fingerprint = identity::Sha256Fingerprint(gen->root.get());
    generations_.push_back(std::move(gen));
  }
  if (Active() == nullptr) {
    return Refuse(manifest_path, absl::StrCat("active generation ", active_, " is not listed"));
  }
  if (!Active()->in_bundle) {
    return Refuse(manifest_path, "the active generation's root is not in the bundle");
  }
  return absl::OkStatus();
}

absl::Status CertificateAuthority::WriteManifest() {
  nlohmann::json gens = nlohmann::json::array();
  for (const auto& g : generations_) {
    gens.push_back({{"number", g->number},
                    {"in_bundle", g->in_bundle},
                    {"intermediate", g->intermediate_name},
                    {"files", g->checksums}});
  }
  nlohmann::json manifest = {{"format", kManifestFormat},
                             {"trust_domain", trust_domain_},
                             {"bundle_version", bundle_version_},
                             {"active", active_},
                             {"generations", gens}};
  return state::WriteFileAtomically(
      state::JoinPath(state::JoinPath(state_dir_, "ca"), "manifest.json"), manifest.dump(2) + "\n",
      0600);
}

absl::Status CertificateAuthority::WriteBundleFile() {
  std::string pem;
  for (const auto& g : generations_) {
    if (!g->in_bundle) continue;
    pem += identity::CertificateToPem(g->root.get());
    for (const auto& extra : g->extra_roots) pem += identity::CertificateToPem(extra.get());
  }
  return state::WriteFileAtomically(state::JoinPath(state_dir_, "bundle.pem"), pem, 0600);
}

const CertificateAuthority::Generation* CertificateAuthority::Active() const {
  for (const auto& g : generations_) {
    if (g->number == active_) return g.get();
  }
  return nullptr;
}

absl::StatusOr<IssuedSvid> CertificateAuthority::Issue(const identity::CheckedCsr& csr,
                                                       const identity::LeafOptions& options) const {
  bssl::UniquePtr<X509> issuer_cert;
  bssl::UniquePtr<EVP_PKEY> issuer_key;
  IssuedSvid out;
  {
    sync::MutexLock lock(&mu_);
    const Generation* active = Active();
    issuer_cert = bssl::UpRef(active->intermediate.get());
    EVP_PKEY_up_ref(active->intermediate_key.get());
    issuer_key.reset(active->intermediate_key.get());
    for (const auto& c : active->chain_above) out.intermediates.push_back(bssl::UpRef(c.get()));
    out.root_fingerprint = active->root_fingerprint;
  }
  ASSIGN_OR_RETURN(
      out.leaf,
      identity::IssueSvid(csr, identity::Issuer{issuer_cert.get(), issuer_key.get()}, options));
  out.intermediates.insert(out.intermediates.begin(), std::move(issuer_cert));
  return out;
}

Bundle CertificateAuthority::CurrentBundle() const {
  sync::MutexLock lock(&mu_);
  Bundle bundle;
  bundle.version = bundle_version_;
  for (const auto& g : generations_) {
    if (!g->in_bundle) continue;
    bundle.roots.push_back(bssl::UpRef(g->root.get()));
    bundle.fingerprints.push_back(g->root_fingerprint);
    for (const auto& extra : g->extra_roots) {
      bundle.roots.push_back(bssl::UpRef(extra.get()));
      bundle.fingerprints.push_back(identity::Sha256Fingerprint(extra.get()));
    }
  }
  return bundle;
}

std::string CertificateAuthority::BundlePem() const {
  Bundle bundle = CurrentBundle();
  std::string pem;
  for (const auto& root : bundle.roots) pem += identity::CertificateToPem(root.get());
  return pem;
}

std::string CertificateAuthority::ActiveRootFingerprint() const {
  sync::MutexLock lock(&mu_);
  return Active()->root_fingerprint;
}

absl::Time CertificateAuthority::IssuingChainNotAfter() const {
  sync::MutexLock lock(&mu_);
  const Generation* active = Active();
  absl::Time earliest = std::min(identity::NotAfter(active->intermediate.get()),
                                 identity::NotAfter(active->root.get()));
  for (const auto& c : active->chain_above)
    earliest = std::min(earliest, identity::NotAfter(c.get()));
  return earliest;
}

uint64_t CertificateAuthority::bundle_version() const {
  sync::MutexLock lock(&mu_);
  return bundle_version_;
}

absl::StatusOr<std::string> CertificateAuthority::AddNextRoot(absl::Time now) {
  if (!self_managed_) {
    return absl::FailedPreconditionError(
        "root rollover needs a self-managed CA; a plug-in CA's roots belong to its operator");
  }
  sync::MutexLock lock(&mu_);
  if (generations_.back()->number != active_) return generations_.back()->root_fingerprint;
  if (shared()) {
    // Lost to another replica: its record is taken; if it holds a next root
    // that root is the answer (the step is not made twice), else try again.
    for (int attempt = 0; attempt < kSharedStepAttempts; ++attempt) {
      if (generations_.back()->number != active_) return generations_.back()->root_fingerprint;
      Snapshot saved = Save();
      absl::Status made = CreateGeneration(generations_.back()->number + 1, now);
      if (made.ok()) ++bundle_version_;
      absl::StatusOr<bool> persisted = made.ok() ? Persist() : absl::StatusOr<bool>(made);
      if (!persisted.ok()) {
        Restore(std::move(saved));
        return persisted.status();
      }
      if (*persisted) return generations_.back()->root_fingerprint;
    }
    return KeptChanging();
  }
  RETURN_IF_ERROR(CreateGeneration(generations_.back()->number + 1, now));
  ++bundle_version_;
  RETURN_IF_ERROR(WriteManifest());
  RETURN_IF_ERROR(WriteBundleFile());
  return generations_.back()->root_fingerprint;
}

absl::Status CertificateAuthority::ActivateNewest() {
  if (!self_managed_) return absl::FailedPreconditionError("not a self-managed CA");
  sync::MutexLock lock(&mu_);
  if (active_ == generations_.back()->number) return absl::OkStatus();
  if (shared()) {
    for (int attempt = 0; attempt < kSharedStepAttempts; ++attempt) {
      if (active_ == generations_.back()->number) return absl::OkStatus();
      Snapshot saved = Save();
      active_ = generations_.back()->number;
      absl::StatusOr<bool> persisted = Persist(/*as_leader=*/true);
      if (!persisted.ok()) Restore(std::move(saved));
      if (!persisted.ok() || *persisted) return persisted.status();
    }
    return KeptChanging();
  }
  active_ = generations_.back()->number;
  return WriteManifest();
}

absl::Status CertificateAuthority::RetireInactive() {
  if (!self_managed_) return absl::FailedPreconditionError("not a self-managed CA");
  sync::MutexLock lock(&mu_);
  for (int attempt = 0; attempt < kSharedStepAttempts; ++attempt) {
    Snapshot saved = shared() ? Save() : Snapshot();
    bool changed = false;
    for (auto& g : generations_) {
      if (g->number != active_ && g->in_bundle) {
        g->in_bundle = false;
        changed = true;
      }
    }
    if (!changed) return absl::OkStatus();
    ++bundle_version_;
    if (!shared()) break;
    // Lost to another replica: decide again on its record.
    absl::StatusOr<bool> persisted = Persist(/*as_leader=*/true);
    if (!persisted.ok()) Restore(std::move(saved));
    if (!persisted.ok() || *persisted) return persisted.status();
  }
  if (shared()) return KeptChanging();
  RETURN_IF_ERROR(WriteManifest());
  return WriteBundleFile();
}

absl::StatusOr<bool> CertificateAuthority::RenewIntermediateIfDue(absl::Time now) {
  if (!self_managed_) return false;
  sync::MutexLock lock(&mu_);
  Generation* active = nullptr;
  for (auto& g : generations_) {
    if (g->number == active_) active = g.get();
  }
  if (active == nullptr || active->root_key == nullptr) return false;
  if (identity::NotAfter(active->intermediate.get()) - now > options_.intermediate_ttl / 3) {
    return false;
  }
  ASSIGN_OR_RETURN(bssl::UniquePtr<EVP_PKEY> key, identity::GenerateP256Key());
  identity::CaOptions o;
  o.trust_domain = trust_domain_;
  o.common_name =
      absl::StrCat("Palisade intermediate ", active->number, ".", absl::ToUnixSeconds(now));
  o.now = now - absl::Minutes(5);
  o.ttl = options_.intermediate_ttl;
  o.path_len = 0;
  ASSIGN_OR_RETURN(bssl::UniquePtr<X509> cert,
                   identity::CreateIntermediate(
                       key.get(), identity::Issuer{active->root.get(), active->root_key.get()}, o));
  const std::string name = absl::StrCat("intermediate-", absl::ToUnixSeconds(now));
  if (shared()) {
    // Lost to another replica: false, its renewed intermediate taken.
    Snapshot saved = Save();
    active->intermediate = std::move(cert);
    active->intermediate_key = std::move(key);
    active->intermediate_name = name;
    absl::StatusOr<bool> persisted = Persist(/*as_leader=*/true);
    if (!persisted.ok()) Restore(std::move(saved));
    return persisted;
  }
  ASSIGN_OR_RETURN(std::string key_pem, identity::PrivateKeyToPem(key.get()));
  const std::string dir =
      state::JoinPath(state::JoinPath(state_dir_, "ca"), absl::StrCat("gen-", active->number));
  const std::string cert_pem = identity::CertificateToPem(cert.get());
  // New files first; the manifest that names them is the commit point.
  RETURN_IF_ERROR(state::WriteFileAtomically(state::JoinPath(dir, name + ".pem"), cert_pem, 0600));
  RETURN_IF_ERROR(state::WriteFileAtomically(state::JoinPath(dir, name + ".key"), key_pem, 0600));
  const std::string old_name = active->intermediate_name;
  const auto old_checksums = active->checksums;
  active->checksums.erase(old_name + ".pem");
  active->checksums.erase(old_name + ".key");
  active->checksums[name + ".pem"] = Sha256Hex(cert_pem);
  active->checksums[name + ".key"] = Sha256Hex(key_pem);
  active->intermediate_name = name;
  bssl::UniquePtr<X509> old_cert = std::move(active->intermediate);
  bssl::UniquePtr<EVP_PKEY> old_key = std::move(active->intermediate_key);
  active->intermediate = std::move(cert);
  active->intermediate_key = std::move(key);
  if (absl::Status s = WriteManifest(); !s.ok()) {
    active->intermediate_name = old_name;
    active->checksums = old_checksums;
    active->intermediate = std::move(old_cert);
    active->intermediate_key = std::move(old_key);
    return s;
  }
  ::unlink(state::JoinPath(dir, old_name + ".pem").c_str());
  ::unlink(state::JoinPath(dir, old_name + ".key").c_str());
  return true;
}

std::vector<std::string> CertificateAuthority::InactiveFingerprints() const {
  sync::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& g : generations_) {
    if (g->number != active_ && g->in_bundle) out.push_back(g->root_fingerprint);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<CertificateAuthority>> CertificateAuthority::OpenPlugin(
    const PluginOptions& options, absl::Time now) {
  RETURN_IF_ERROR(identity::ValidateTrustDomain(options.trust_domain));
  auto read = [](const std::string& flag, const std::string& path) -> absl::StatusOr<std::string> {
    if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " is required"));
    // The operator's files, not state: a mounted Secret may belong to root.
    absl::StatusOr<std::string> data = files::ReadSmallFile(path, absl::StrCat("--", flag));
    if (!data.ok()) return absl::InvalidArgumentError(data.status().message());
    return data;
  };
  ASSIGN_OR_RETURN(std::string cert_pem, read("plugin_ca_cert", options.cert_file));
  ASSIGN_OR_RETURN(std::string key_pem, read("plugin_ca_key", options.key_file));
  ASSIGN_OR_RETURN(std::string bundle_pem, read("plugin_root_bundle", options.bundle_file));
  std::string chain_pem;
  if (!options.chain_file.empty()) {
    ASSIGN_OR_RETURN(chain_pem, read("plugin_ca_chain", options.chain_file));
  }
  auto bad = [](const std::string& path, absl::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
  };
  auto certs = identity::ParsePemCertificates(cert_pem);
  if (!certs.ok()) return bad(options.cert_file, certs.status().message());
  auto key = identity::ParsePrivateKeyPem(key_pem);
  if (!key.ok()) return bad(options.key_file, key.status().message());
  auto roots = identity::ParsePemCertificates(bundle_pem);
  if (!roots.ok()) return bad(options.bundle_file, roots.status().message());
  std::vector<bssl::UniquePtr<X509>> chain;
  if (!chain_pem.empty()) {
    auto parsed = identity::ParsePemCertificates(chain_pem);
    if (!parsed.ok()) return bad(options.chain_file, parsed.status().message());
    chain = *std::move(parsed);
  }
  // A cert file may carry its own chain after the CA certificate.
  for (size_t i = 1; i < certs->size(); ++i) chain.push_back(std::move((*certs)[i]));
  if (!identity::KeyMatchesCertificate(key->get(), (*certs)[0].get())) {
    return bad(options.key_file,
               absl::StrCat("does not match the certificate in ", options.cert_file));
  }
  identity::TrustBundleSet::Builder builder;
  for (const auto& root : *roots) {
    if (absl::Status s = builder.Add(options.trust_domain, root.get()); !s.ok()) {
      return bad(options.bundle_file, s.message());
    }
  }
  identity::TrustBundleSet bundles = builder.Build();

  // Proves the whole path the way proxies will check it: issue a throwaway
  // SVID and verify it under the bundle.
  ASSIGN_OR_RETURN(bssl::UniquePtr<EVP_PKEY> probe_key, identity::GenerateP256Key());
  identity::CheckedCsr probe{
      *identity::SpiffeId::FromParts(options.trust_domain, "/palisade/probe"),
      std::move(probe_key)};
  identity::LeafOptions leaf_options;
  leaf_options.now = now;
  leaf_options.ttl = absl::Minutes(5);
  auto leaf =
      identity::IssueSvid(probe, identity::Issuer{(*certs)[0].get(), key->get()}, leaf_options);
  if (!leaf.ok()) return bad(options.cert_file, leaf.status().message());
  std::vector<X509*> path = {leaf->get(), (*certs)[0].get()};
  for (const auto& c : chain) path.push_back(c.get());
  identity::VerifyOptions verify;
  verify.now = now;
  verify.expected_trust_domain = options.trust_domain;
  identity::SvidVerification check = identity::VerifySvidChain(path, bundles, verify);
  if (!check.ok()) {
    return bad(options.cert_file,
               absl::StrCat("an SVID it issues does not verify under ", options.bundle_file, ": ",
                            identity::ReasonCode(check.reason), ": ", check.detail));
  }

  std::unique_ptr<CertificateAuthority> ca(
      new CertificateAuthority(options.trust_domain, false, options.state_dir));
  auto gen = std::make_unique<Generation>();
  gen->number = 1;
  gen->intermediate = std::move((*certs)[0]);
  gen->intermediate_key = *std::move(key);
  gen->chain_above = std::move(chain);
  gen->root_fingerprint = check.svid->root_fingerprint;
  for (auto& root : *roots) {
    if (identity::Sha256Fingerprint(root.get()) == gen->root_fingerprint && gen->root == nullptr) {
      gen->root = std::move(root);
    } else {
      gen->extra_roots.push_back(std::move(root));
    }
  }
  // The bundle version survives restarts and moves when the operator's roots change.
  std::string prints;
  prints += gen->root_fingerprint;
  for (const auto& extra : gen->extra_roots) prints += identity::Sha256Fingerprint(extra.get());
  sync::MutexLock lock(&ca->mu_);
  ca->active_ = 1;
  ca->bundle_version_ = 1;
  ca->generations_.push_back(std::move(gen));
  if (!options.state_dir.empty()) {
    const std::string path = state::JoinPath(options.state_dir, "plugin_bundle.json");
    absl::StatusOr<std::string> text = state::ReadStateFile(path);
    if (text.ok()) {
      nlohmann::json saved = nlohmann::json::parse(*text, nullptr, false);
      if (saved.is_object() && saved.contains("version") && saved["version"].is_number_unsigned() &&
          saved.contains("roots") && saved["roots"].is_string()) {
        ca->bundle_version_ = std::max<uint64_t>(1, saved["version"].get<uint64_t>());
        if (saved["roots"].get<std::string>() != prints) ++ca->bundle_version_;
      }
    }
    nlohmann::json out = {{"version", ca->bundle_version_}, {"roots", prints}};
    RETURN_IF_ERROR(state::WriteFileAtomically(path, out.dump() + "\n", 0600));
    RETURN_IF_ERROR(ca->WriteBundleFile());
  }
  return ca;
}

}  // namespace palisade::control::ca
