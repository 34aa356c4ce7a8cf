#include "proxy/config/trust_domain_check.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "identity/spiffe_id.h"

namespace palisade::config {
namespace {

constexpr absl::string_view kSpiffeScheme = "spiffe://";

std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

std::optional<std::string> DomainOfId(const std::string& id) {
  absl::StatusOr<identity::SpiffeId> parsed = identity::SpiffeId::Parse(id);
  if (!parsed.ok()) return std::nullopt;
  return parsed->trust_domain();
}

// "spiffe://td/ns/shop/" -> "td"; nullopt when the prefix is malformed.
std::optional<std::string> DomainOfPrefix(absl::string_view prefix) {
  if (!absl::ConsumePrefix(&prefix, kSpiffeScheme)) return std::nullopt;
  const absl::string_view domain = prefix.substr(0, prefix.find('/'));
  if (!identity::ValidateTrustDomain(domain).ok()) return std::nullopt;
  return std::string(domain);
}

std::optional<std::string> ValidDomain(const std::string& domain) {
  if (!identity::ValidateTrustDomain(domain).ok()) return std::nullopt;
  return domain;
}

// The own trust domain of a control-plane identity.
std::optional<std::string> OwnDomain(const v1::IdentitySource& identity) {
  if (!identity.spiffe_id().empty()) return DomainOfId(identity.spiffe_id());
  return DomainOfId(identity.control_plane().server_spiffe_id());
}

class SourceCheck {
 public:
  SourceCheck(const v1::ProxyConfig& config, std::vector<std::string> sources, ConfigErrors* errors)
      : config_(config), sources_(std::move(sources)), errors_(errors) {}

  void Run() {
    for (int i = 0; i < config_.inbound_size(); ++i) {
      const v1::InboundListener& in = config_.inbound(i);
      // A gateway verifies against its own trust store; authorization does
      // not apply there (the validator says so).
      if (!in.has_authorization() || in.has_gateway()) continue;
      const std::string path = absl::StrCat("inbound[", i, "].authorization");
      const v1::AuthorizationPolicy& policy = in.authorization();
      for (int j = 0; j < policy.spiffe_ids_size(); ++j) {
        Expect(absl::StrCat(path, ".spiffe_ids[", j, "]"), DomainOfId(policy.spiffe_ids(j)));
      }
      for (int j = 0; j < policy.trust_domains_size(); ++j) {
        Expect(absl::StrCat(path, ".trust_domains[", j, "]"), ValidDomain(policy.trust_domains(j)));
      }
      for (int j = 0; j < policy.path_prefixes_size(); ++j) {
        Expect(absl::StrCat(path, ".path_prefixes[", j, "]"),
               DomainOfPrefix(policy.path_prefixes(j)));
      }
    }
    for (int i = 0; i < config_.outbound_size(); ++i) {
      const v1::OutboundListener& out = config_.outbound(i);
      const std::string path = absl::StrCat("outbound[", i, "]");
      for (int d = 0; d < out.destinations_size(); ++d) {
        ExpectPeer(absl::StrCat(path, ".destinations[", d, "].expected_peer"),
                   out.destinations(d).expected_peer());
      }
      ExpectPeer(absl::StrCat(path, ".expected_peer"), out.expected_peer());
    }
  }

 private:
  void ExpectPeer(const std::string& path, const v1::PeerMatch& peer) {
    switch (peer.match_case()) {
      case v1::PeerMatch::kSpiffeId:
        return Expect(path + ".spiffe_id", DomainOfId(peer.spiffe_id()));
      case v1::PeerMatch::kTrustDomain:
        return Expect(path + ".trust_domain", ValidDomain(peer.trust_domain()));
      case v1::PeerMatch::kPathPrefix:
        return Expect(path + ".path_prefix", DomainOfPrefix(peer.path_prefix()));
      case v1::PeerMatch::MATCH_NOT_SET:
        return;
    }
  }

  void Expect(const std::string& path, const std::optional<std::string>& domain) {
    if (!domain.has_value()) return;  // malformed: reported by the validator
    if (std::find(sources_.begin(), sources_.end(), *domain) != sources_.end()) return;
    const std::string fix =
        config_.identity().has_files()
            ? "add an identity.files.trust_bundles entry with its roots"
            : "list it in identity.control_plane.federated_trust_domains (palisade-control "
              "must federate with it)";
    errors_->Add(path, absl::StrCat("no trust bundle source for ", Quote(*domain),
                                    ", so no peer of it can be verified; ", fix));
  }

  const v1::ProxyConfig& config_;
  const std::vector<std::string> sources_;
  ConfigErrors* errors_;
};

void CheckFederatedList(const v1::IdentitySource& identity, ConfigErrors* errors) {
  const std::optional<std::string> own = OwnDomain(identity);
  const v1::ControlPlaneIdentitySource& cp = identity.control_plane();
  absl::flat_hash_map<std::string, std::string> seen;
  for (int i = 0; i < cp.federated_trust_domains_size(); ++i) {
    const std::string& domain = cp.federated_trust_domains(i);
    const std::string path =
        absl::StrCat("identity.control_plane.federated_trust_domains[", i, "]");
    if (absl::Status s = identity::ValidateTrustDomain(domain); !s.ok()) {
      errors->Add(path, s.message());
    } else if (own.has_value() && domain == *own) {
      errors->Add(path, absl::StrCat(Quote(domain),
                                     " is this proxy's own trust domain, whose bundle "
                                     "palisade-control always sends; list only foreign ones"));
    } else if (auto [first, inserted] = seen.try_emplace(domain, path); !inserted) {
      errors->Add(path, absl::StrCat(Quote(domain), " is already listed at ", first->second));
    }
  }
}

}  // namespace

std::optional<std::vector<std::string>> TrustBundleSources(const v1::IdentitySource& identity) {
  std::vector<std::string> sources;
  switch (identity.source_case()) {
    case v1::IdentitySource::kFiles:
      // None at all is reported as such; listing every peer too would be noise.
      if (identity.files().trust_bundles_size() == 0) return std::nullopt;
      for (const v1::TrustBundleFile& bundle : identity.files().trust_bundles()) {
        sources.push_back(bundle.trust_domain());
      }
      return sources;
    case v1::IdentitySource::kControlPlane: {
      const std::optional<std::string> own = OwnDomain(identity);
      if (!own.has_value()) return std::nullopt;
      sources.push_back(*own);
      for (const std::string& domain : identity.control_plane().federated_trust_domains()) {
        sources.push_back(domain);
      }
      return sources;
    }
    case v1::IdentitySource::SOURCE_NOT_SET:
      return std::nullopt;
  }
  return std::nullopt;
}

void CheckTrustDomainSources(const v1::ProxyConfig& config, ConfigErrors* errors) {
  if (config.identity().has_control_plane()) CheckFederatedList(config.identity(), errors);
  std::optional<std::vector<std::string>> sources = TrustBundleSources(config.identity());
  if (!sources.has_value()) return;
  SourceCheck(config, *std::move(sources), errors).Run();
}

}  // namespace palisade::config
