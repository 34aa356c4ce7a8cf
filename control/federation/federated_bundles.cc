#include "control/federation/federated_bundles.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "control/auth/refusal.h"
#include "control/federation/bundle_acceptance.h"
#include "control/state/state_files.h"
#include "identity/certificate.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::federation {
namespace {

absl::Time ModifiedAt(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return absl::InfinitePast();
  return absl::TimeFromTimespec(st.st_mtim);
}

}  // namespace

std::string FederatedBundles::PathOf(const std::string& trust_domain) const {
  return state::JoinPath(dir_, trust_domain + ".json");
}

absl::StatusOr<std::unique_ptr<FederatedBundles>> FederatedBundles::Open(
    const std::vector<FederatedDomain>& domains, const std::string& state_dir, absl::Time now) {
  std::unique_ptr<FederatedBundles> out(
      new FederatedBundles(state::JoinPath(state_dir, "federation")));
  if (!domains.empty()) RETURN_IF_ERROR(state::EnsureDirectory(out->dir_, 0700));
  sync::MutexLock lock(&out->mu_);
  for (size_t i = 0; i < domains.size(); ++i) {
    const FederatedDomain& config = domains[i];
    Domain d;
    d.config = config;
    d.status.trust_domain = config.trust_domain;
    d.status.endpoint = config.bundle_endpoint_url;
    d.status.profile = ProfileName(config.profile);
    std::optional<identity::SpiffeBundle> initial;
    if (config.profile == EndpointProfile::kHttpsSpiffe) {
      ASSIGN_OR_RETURN(identity::SpiffeBundle b, LoadInitialBundle(config, i));
      initial = std::move(b);
    }
    const std::string path = out->PathOf(config.trust_domain);
    absl::StatusOr<std::string> stored = state::ReadStateFile(path);
    std::optional<identity::SpiffeBundle> kept;
    if (stored.ok()) {
      absl::StatusOr<identity::SpiffeBundle> parsed =
          identity::ParseSpiffeBundle(*stored, config.trust_domain);
      if (!parsed.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "stored federated bundle \"", path, "\" is malformed: ", parsed.status().message(),
            " (remove it to start from the initial bundle)"));
      }
      kept = *std::move(parsed);
    } else if (!absl::IsNotFound(stored.status())) {
      return stored.status();
    }
    const bool initial_newer = initial.has_value() && kept.has_value() &&
                               initial->sequence.has_value() && kept->sequence.has_value() &&
                               *initial->sequence > *kept->sequence;
    if (kept.has_value() && !initial_newer) {
      d.bundle = *std::move(kept);
      d.status.source = "state";
      d.status.last_success = ModifiedAt(path);
    } else if (initial.has_value()) {
      d.bundle = *std::move(initial);
      d.status.source = "initial_bundle_file";
      // Never fetched: as old as this start, so a bundle that never
      // refreshes shows as ageing.
      d.status.last_success = now;
    } else {
      // https_web without a stored bundle: nothing to trust until the
      // first good fetch.
      d.bundle.trust_domain = config.trust_domain;
      d.status.last_success = now;
    }
    d.status.sequence = d.bundle.sequence;
    d.status.roots = d.bundle.x509_authorities.size();
    out->domains_.emplace(config.trust_domain, std::move(d));
  }
  return out;
}

absl::Status FederatedBundles::Store(const Domain& domain, bool changed) {
  const std::string path = PathOf(domain.config.trust_domain);
  if (!changed && state::PathExists(path)) {
    // Unchanged: only its time says when it was last confirmed good.
    if (utimensat(AT_FDCWD, path.c_str(), nullptr, 0) == 0) return absl::OkStatus();
  }
  return state::WriteFileAtomically(path, identity::SerializeSpiffeBundle(domain.bundle), 0600);
}

absl::Status FederatedBundles::Offer(const std::string& trust_domain,
                                     identity::SpiffeBundle fetched, absl::Time now,
                                     bool* changed) {
  *changed = false;
  sync::MutexLock lock(&mu_);
  auto it = domains_.find(trust_domain);
  if (it == domains_.end()) return absl::NotFoundError("not a federated trust domain");
  Domain& d = it->second;
  d.status.last_attempt = now;
  absl::StatusOr<bool> accepted = CheckSuccessor(d.bundle, fetched);
  if (!accepted.ok()) {
    d.status.last_result = auth::RefusalReason(accepted.status());
    d.status.last_error = std::string(accepted.status().message());
    return accepted.status();
  }
  const bool rewritten = *accepted || d.bundle.sequence != fetched.sequence ||
                         d.bundle.refresh_hint != fetched.refresh_hint;
  Domain next{d.config, std::move(fetched), d.status};
  if (absl::Status s = Store(next, rewritten); !s.ok()) {
    // Not kept on disk: still good to use; the next fetch writes again.
    d.status.last_error = absl::StrCat("cannot store the bundle: ", s.message());
  } else {
    d.status.last_error.clear();
  }
  d.bundle = std::move(next.bundle);
  d.status.last_result = "ok";
  d.status.last_success = now;
  d.status.source = "endpoint";
  d.status.sequence = d.bundle.sequence;
  d.status.roots = d.bundle.x509_authorities.size();
  if (*accepted) ++generation_;
  *changed = *accepted;
  return absl::OkStatus();
}

void FederatedBundles::RecordFailure(const std::string& trust_domain, const std::string& result,
                                     const std::string& detail, absl::Time now) {
  sync::MutexLock lock(&mu_);
  auto it = domains_.find(trust_domain);
  if (it == domains_.end()) return;
  it->second.status.last_attempt = now;
  it->second.status.last_result = result;
  it->second.status.last_error = detail;
}

std::string FederatedBundles::AnchorsPem(const std::string& trust_domain) const {
  sync::MutexLock lock(&mu_);
  auto it = domains_.find(trust_domain);
  std::string pem;
  if (it == domains_.end()) return pem;
  for (const auto& root : it->second.bundle.x509_authorities) {
    pem += identity::CertificateToPem(root.get());
  }
  return pem;
}

std::optional<absl::Duration> FederatedBundles::RefreshHint(const std::string& trust_domain) const {
  sync::MutexLock lock(&mu_);
  auto it = domains_.find(trust_domain);
  if (it == domains_.end()) return std::nullopt;
  return it->second.bundle.refresh_hint;
}

std::vector<DomainRoots> FederatedBundles::Roots() const {
  sync::MutexLock lock(&mu_);
  std::vector<DomainRoots> out;
  for (const auto& [name, d] : domains_) {
    if (d.bundle.x509_authorities.empty()) continue;
    DomainRoots roots{name, {}};
    for (const auto& root : d.bundle.x509_authorities) {
      roots.roots_der.push_back(identity::CertificateToDer(root.get()));
    }
    out.push_back(std::move(roots));
  }
  return out;
}

uint64_t FederatedBundles::generation() const {
  sync::MutexLock lock(&mu_);
  return generation_;
}

std::vector<DomainStatus> FederatedBundles::Status() const {
  sync::MutexLock lock(&mu_);
  std::vector<DomainStatus> out;
  for (const auto& [name, d] : domains_) out.push_back(d.status);
  return out;
}

}  // namespace palisade::control::federation
