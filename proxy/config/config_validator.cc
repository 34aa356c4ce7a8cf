#include "proxy/config/config_validator.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "identity/spiffe_id.h"
#include "proxy/config/config_defaults.h"
#include "proxy/config/file_check.h"
#include "proxy/config/gateway_check.h"
#include "proxy/config/trust_domain_check.h"
#include "runtime/net/address_pattern.h"
#include "runtime/net/socket_address.h"

namespace palisade::config {
namespace {

using v1::ProxyConfig;

constexpr size_t kMaxListenerNameLength = 63;
constexpr uint32_t kMaxWorkers = 1024;
constexpr char kSpiffeScheme[] = "spiffe://";

std::string Quote(absl::string_view text) {
  constexpr size_t kMaxShown = 96;
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, kMaxShown)),
                      text.size() > kMaxShown ? "...\"" : "\"");
}

std::string Join(absl::string_view path, absl::string_view field) {
  return absl::StrCat(path, ".", field);
}

std::string Index(absl::string_view path, int i) { return absl::StrCat(path, "[", i, "]"); }

// True when binding both would compete for the same port: the same port (not
// 0) and the same address, or one a wildcard covering the other. IPv6
// listeners are bound IPV6_V6ONLY (proxy/net/sockets.cc), so the families
// never share a port.
bool BindsOverlap(const net::SocketAddress& a, const net::SocketAddress& b) {
  if (a.port() == 0 || a.port() != b.port() || a.family() != b.family()) return false;
  return a == b || a.IsUnspecified() || b.IsUnspecified();
}

std::string Show(absl::Duration d) {
  return d == absl::ZeroDuration() ? "0s" : absl::FormatDuration(d);
}

bool IsValidListenerName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxListenerNameLength) return false;
  auto lower_or_digit = [](char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); };
  if (!lower_or_digit(name[0])) return false;
  for (char c : name.substr(1)) {
    if (!lower_or_digit(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

class Validator {
 public:
  Validator(const ProxyConfig& config, ConfigErrors* errors) : config_(config), errors_(errors) {}

  void Run() {
    CheckIdentity();
    for (int i = 0; i < config_.inbound_size(); ++i) CheckInbound(i);
    for (int i = 0; i < config_.outbound_size(); ++i) CheckOutbound(i);
    if (config_.inbound_size() == 0 && config_.outbound_size() == 0) {
      errors_->Add("inbound", "no listeners: configure at least one inbound or outbound listener");
    }
    CheckAdmin();
    CheckBindConflicts();
    CheckRuntime();
    CheckTls();
    CheckLogging();
    CheckReauthentication();
    CheckTrustDomainSources(config_, errors_);
  }

 private:
  struct Bound {
    std::string path;
    net::SocketAddress address;
  };

  void Error(const std::string& path, absl::string_view message) { errors_->Add(path, message); }

  // Adds `status`'s message as an error at `path`; true when it was OK.
  bool Check(const std::string& path, const absl::Status& status) {
    if (status.ok()) return true;
    Error(path, status.message());
    return false;
  }

  void CheckIdentity() {
    if (!config_.has_identity()) {
      return Error("identity",
                   "is required: set identity.files (PEM files on disk) or "
                   "identity.control_plane (certificates from palisade-control)");
    }
    const v1::IdentitySource& identity = config_.identity();
    if (!identity.spiffe_id().empty()) {
      CheckSpiffeId("identity.spiffe_id", identity.spiffe_id());
    }
    switch (identity.source_case()) {
      case v1::IdentitySource::kFiles:
        return CheckFileSource(identity.files());
      case v1::IdentitySource::kControlPlane:
        return CheckControlPlane(identity.control_plane());
      case v1::IdentitySource::SOURCE_NOT_SET:
        return Error("identity", "set one of files or control_plane: where the SVID comes from");
    }
  }

  void CheckFileSource(const v1::FileIdentitySource& files) {
    const std::string path = "identity.files";
    CheckFile(Join(path, "certificate_chain_file"), files.certificate_chain_file(),
              FileKind::kCertificates);
    CheckFile(Join(path, "private_key_file"), files.private_key_file(), FileKind::kPrivateKey);
    if (files.trust_bundles_size() == 0) {
      Error(Join(path, "trust_bundles"),
            "is required: at least one trust bundle, to verify peers' certificates");
    }
    absl::flat_hash_map<std::string, std::string> domains;
    for (int i = 0; i < files.trust_bundles_size(); ++i) {
      const v1::TrustBundleFile& bundle = files.trust_bundles(i);
      const std::string bundle_path = Index(Join(path, "trust_bundles"), i);
      const std::string domain_path = Join(bundle_path, "trust_domain");
      if (bundle.trust_domain().empty()) {
        Error(domain_path, "is required");
      } else if (CheckTrustDomain(domain_path, bundle.trust_domain())) {
        auto [first, inserted] = domains.try_emplace(bundle.trust_domain(), domain_path);
        if (!inserted) {
          Error(domain_path, absl::StrCat("trust domain ", Quote(bundle.trust_domain()),
                                          " already has a bundle at ", first->second,
                                          "; put all its roots in one file"));
        }
      }
      CheckFile(Join(bundle_path, "file"), bundle.file(), FileKind::kCertificates);
    }
  }

  void CheckControlPlane(const v1::ControlPlaneIdentitySource& cp) {
    const std::string path = "identity.control_plane";
    if (cp.address().empty()) {
      Error(Join(path, "address"), "is required: host:port of palisade-control");
    } else {
      Check(Join(path, "address"), net::HostPort::Parse(cp.address()).status());
    }
    // Further replicas: each a host:port, none twice (nor `address` again).
    absl::flat_hash_map<std::string, std::string> seen;
    if (!cp.address().empty()) seen.emplace(cp.address(), Join(path, "address"));
    for (int i = 0; i < cp.addresses_size(); ++i) {
      const std::string at = Index(Join(path, "addresses"), i);
      const std::string& address = cp.addresses(i);
      if (address.empty()) {
        Error(at, "is empty: host:port of a palisade-control replica");
        continue;
      }
      if (!Check(at, net::HostPort::Parse(address).status())) continue;
      const auto [first, inserted] = seen.emplace(address, at);
      if (!inserted) {
        Error(at, absl::StrCat(Quote(address), " is listed twice (also ", first->second, ")"));
      }
    }
    if (cp.server_spiffe_id().empty()) {
      Error(Join(path, "server_spiffe_id"),
            "is required: the SPIFFE ID palisade-control must present");
    } else {
      CheckSpiffeId(Join(path, "server_spiffe_id"), cp.server_spiffe_id());
    }
    CheckFile(Join(path, "bootstrap_bundle_file"), cp.bootstrap_bundle_file(),
              FileKind::kCertificates);
    switch (cp.bootstrap_case()) {
      case v1::ControlPlaneIdentitySource::kJoinTokenFile:
        CheckFile(Join(path, "join_token_file"), cp.join_token_file(), FileKind::kToken);
        break;
      case v1::ControlPlaneIdentitySource::kServiceAccountTokenFile:
        CheckFile(Join(path, "service_account_token_file"), cp.service_account_token_file(),
                  FileKind::kToken);
        break;
      case v1::ControlPlaneIdentitySource::BOOTSTRAP_NOT_SET:
        Error(path,
              "set one of join_token_file or service_account_token_file: the credential that "
              "obtains the first certificate");
        break;
    }
    // Checked where it will be (the default beside the join token file).
    const std::string reattestation = !cp.reattestation_token_file().empty()
                                          ? cp.reattestation_token_file()
                                      : cp.has_join_token_file() && !cp.join_token_file().empty()
                                          ? cp.join_token_file() + kReattestationTokenSuffix
                                          : "";
    if (!reattestation.empty()) {
      Check(Join(path, "reattestation_token_file"),
            CheckConfigFile(reattestation, FileKind::kWrittenByProxy));
    }
    if (cp.renew_fraction() != 0 && !(cp.renew_fraction() > 0 && cp.renew_fraction() < 1)) {
      Error(Join(path, "renew_fraction"),
            absl::StrCat(cp.renew_fraction(), " must be more than 0 and less than 1"));
    }
    const bool initial_ok = CheckPositive(Join(path, "initial_backoff"), cp.has_initial_backoff(),
                                          cp.initial_backoff());
    const bool max_ok =
        CheckPositive(Join(path, "max_backoff"), cp.has_max_backoff(), cp.max_backoff());
    const absl::Duration initial =
        DurationOr(cp.has_initial_backoff(), cp.initial_backoff(), kDefaultInitialBackoff);
    const absl::Duration max =
        DurationOr(cp.has_max_backoff(), cp.max_backoff(), kDefaultMaxBackoff);
    if (initial_ok && max_ok && initial > max) {
      Error(Join(path, "initial_backoff"),
            absl::StrCat(Show(initial), " is longer than max_backoff (", Show(max),
                         cp.has_max_backoff() ? "" : ", the default", ")"));
    }
  }

  void CheckInbound(int i) {
    const v1::InboundListener& in = config_.inbound(i);
    const std::string path = Index("inbound", i);
    CheckListenerName(path, in.name());
    CheckListenAddress(path, in.address(), /*loopback_only=*/false);
    const std::string forward_path = Join(path, "forward_to");
    if (in.forward_to().empty()) {
      Error(forward_path, "is required: ip:port of the local app");
    } else if (absl::StatusOr<net::SocketAddress> to = net::SocketAddress::Parse(in.forward_to());
               !to.ok()) {
      Check(forward_path, to.status());
    } else if (in.original_destination() && to->port() != 0) {
      Error(forward_path, absl::StrCat(Quote(in.forward_to()),
                                       ": with original_destination the port comes from each "
                                       "connection; write port 0 (e.g. 127.0.0.1:0)"));
    } else if (!in.original_destination() && to->port() == 0) {
      Error(forward_path, absl::StrCat(Quote(in.forward_to()), ": port 0 cannot be connected to"));
    }
    if (in.has_authorization() && !in.has_gateway()) {
      CheckAuthorization(Join(path, "authorization"), in.authorization());
    }
    if (in.has_caller_identity())
      CheckCallerIdentity(Join(path, "caller_identity"), in.caller_identity());
    CheckGatewayListener(path, in, errors_);
    CheckLimits(path, in.limits());
    CheckTimeouts(path, in.has_timeouts(), in.timeouts());
  }

  void CheckOutbound(int i) {
    const v1::OutboundListener& out = config_.outbound(i);
    const std::string path = Index("outbound", i);
    CheckListenerName(path, out.name());
    CheckListenAddress(path, out.address(), !out.allow_non_loopback());
    if (out.original_destination()) {
      if (!out.upstream().empty()) {
        Error(Join(path, "upstream"),
              "must be empty with original_destination: each connection goes where the app "
              "dialled");
      }
    } else if (out.upstream().empty()) {
      Error(Join(path, "upstream"), "is required: host:port of the upstream's inbound listener");
    } else {
      Check(Join(path, "upstream"), net::HostPort::Parse(out.upstream()).status());
    }
    if (!out.original_destination() && out.destinations_size() > 0) {
      Error(Join(path, "destinations"), "only applies with original_destination: true");
    }
    for (int d = 0; d < out.destinations_size(); ++d) {
      const std::string rule = Index(Join(path, "destinations"), d);
      Check(Join(rule, "address"),
            net::AddressPattern::Parse(out.destinations(d).address()).status());
      CheckExpectedPeer(Join(rule, "expected_peer"), out.destinations(d).expected_peer());
    }
    CheckExpectedPeer(Join(path, "expected_peer"), out.expected_peer());
    CheckLimits(path, out.limits());
    CheckTimeouts(path, out.has_timeouts(), out.timeouts());
  }

  void CheckListenerName(const std::string& listener, const std::string& name) {
    const std::string path = Join(listener, "name");
    if (name.empty()) {
      return Error(path, "is required: names a listener in metrics and logs");
    }
    if (!IsValidListenerName(name)) {
      return Error(path, absl::StrCat(Quote(name),
                                      " is not a valid name: 1 to 63 characters of a-z, 0-9, "
                                      "'_', '.' and '-', starting with a letter or digit"));
    }
    auto [first, inserted] = names_.try_emplace(name, path);
    if (!inserted) {
      Error(path, absl::StrCat(Quote(name), " is already the name of ", first->second));
    }
  }

  void CheckListenAddress(const std::string& listener, const std::string& address,
                          bool loopback_only) {
    const std::string path = Join(listener, "address");
    if (address.empty()) return Error(path, "is required: ip:port to listen on");
    AddBound(path, address, loopback_only, "");
  }

  // Parses a bound address, applies the loopback rule and remembers it for the
  // conflict check. `note` explains where a defaulted value came from.
  void AddBound(const std::string& path, const std::string& address, bool loopback_only,
                absl::string_view note) {
    absl::StatusOr<net::SocketAddress> parsed = net::SocketAddress::Parse(address);
    if (!Check(path, parsed.status())) return;
    if (loopback_only && !parsed->IsLoopback()) {
      Error(path, absl::StrCat(parsed->ToString(), note,
                               " is not a loopback address, so other hosts could reach it without "
                               "authentication; bind to 127.0.0.1 or [::1], or set "
                               "allow_non_loopback: true"));
    }
    bound_.push_back(Bound{path, *parsed});
  }

  void CheckAdmin() {
    const v1::AdminConfig& admin = config_.admin();
    if (admin.has_enabled() && !admin.enabled()) {
      // Every field of a disabled admin server would be silently ignored.
      constexpr absl::string_view kUnused =
          "is set but admin.enabled is false, so no admin server starts; remove it or "
          "set admin.enabled: true";
      if (!admin.address().empty()) Error("admin.address", kUnused);
      if (admin.allow_non_loopback()) Error("admin.allow_non_loopback", kUnused);
      if (!admin.public_address().empty()) Error("admin.public_address", kUnused);
      return;
    }
    const bool defaulted = admin.address().empty();
    AddBound("admin.address", defaulted ? kDefaultAdminAddress : admin.address(),
             !admin.allow_non_loopback(), defaulted ? " (the default)" : "");
    if (!admin.public_address().empty()) {
      AddBound("admin.public_address", admin.public_address(), /*loopback_only=*/false, "");
    }
  }

  void CheckBindConflicts() {
    for (size_t j = 1; j < bound_.size(); ++j) {
      for (size_t i = 0; i < j; ++i) {
        const net::SocketAddress& a = bound_[i].address;
        const net::SocketAddress& b = bound_[j].address;
        if (!BindsOverlap(a, b)) continue;
        const bool same = a.ToString() == b.ToString();
        Error(bound_[j].path,
              absl::StrCat(b.ToString(), same ? " is already used by " : " overlaps ",
                           bound_[i].path, same ? "" : absl::StrCat(" (", a.ToString(), ")"),
                           same ? "" : ": a wildcard address takes the port on every interface"));
        break;
      }
    }
  }

  void CheckAuthorization(const std::string& path, const v1::AuthorizationPolicy& policy) {
    if (policy.spiffe_ids_size() == 0 && policy.trust_domains_size() == 0 &&
        policy.path_prefixes_size() == 0) {
      return Error(path,
                   "allows no peer: list spiffe_ids, trust_domains or path_prefixes, or remove "
                   "authorization to allow this proxy's own trust domain");
    }
    for (int i = 0; i < policy.spiffe_ids_size(); ++i) {
      CheckSpiffeId(Index(Join(path, "spiffe_ids"), i), policy.spiffe_ids(i));
    }
    for (int i = 0; i < policy.trust_domains_size(); ++i) {
      CheckTrustDomain(Index(Join(path, "trust_domains"), i), policy.trust_domains(i));
    }
    for (int i = 0; i < policy.path_prefixes_size(); ++i) {
      CheckPathPrefix(Index(Join(path, "path_prefixes"), i), policy.path_prefixes(i));
    }
  }

  void CheckExpectedPeer(const std::string& path, const v1::PeerMatch& peer) {
    switch (peer.match_case()) {
      case v1::PeerMatch::kSpiffeId:
        return CheckSpiffeId(Join(path, "spiffe_id"), peer.spiffe_id());
      case v1::PeerMatch::kTrustDomain:
        CheckTrustDomain(Join(path, "trust_domain"), peer.trust_domain());
        return;
      case v1::PeerMatch::kPathPrefix:
        return CheckPathPrefix(Join(path, "path_prefix"), peer.path_prefix());
      case v1::PeerMatch::MATCH_NOT_SET:
        return Error(path,
                     "is required: set one of spiffe_id, trust_domain or path_prefix, the identity "
                     "the upstream must present");
    }
  }

  void CheckSpiffeId(const std::string& path, const std::string& id) {
    Check(path, identity::SpiffeId::Parse(id).status());
  }

  bool CheckTrustDomain(const std::string& path, const std::string& domain) {
    return Check(path, identity::ValidateTrustDomain(domain));
  }

  // "spiffe://td/ns/shop/": a trust domain and a path that ends at a segment boundary.
  void CheckPathPrefix(const std::string& path, const std::string& prefix) {
    if (!absl::StartsWith(prefix, kSpiffeScheme)) {
      return Error(path, absl::StrCat(Quote(prefix), " must start with \"spiffe://\""));
    }
    absl::string_view rest = absl::string_view(prefix).substr(sizeof(kSpiffeScheme) - 1);
    const size_t slash = rest.find('/');
    const absl::string_view domain = rest.substr(0, slash);
    absl::string_view id_path =
        slash == absl::string_view::npos ? absl::string_view() : rest.substr(slash);
    absl::ConsumeSuffix(&id_path, "/");
    absl::Status status = identity::ValidateTrustDomain(domain);
    if (status.ok()) status = identity::ValidateSpiffePath(id_path);
    if (!status.ok()) {
      Error(path, absl::StrCat("path prefix ", Quote(prefix), ": ", status.message()));
    }
  }

  void CheckFile(const std::string& path, const std::string& file, FileKind kind) {
    if (file.empty()) return Error(path, "is required: a file name");
    Check(path, CheckConfigFile(file, kind));
  }

  // A Duration field where zero makes no sense (it would expire at once).
  bool CheckPositive(const std::string& path, bool present, const google::protobuf::Duration& d) {
    if (!present) return true;
    if (DurationOr(true, d, absl::ZeroDuration()) > absl::ZeroDuration()) return true;
    Error(path, absl::StrCat(Show(DurationOr(true, d, absl::ZeroDuration())),
                             " must be more than zero (remove it for the default)"));
    return false;
  }

  bool CheckNotNegative(const std::string& path, bool present,
                        const google::protobuf::Duration& d) {
    if (!present || DurationOr(true, d, absl::ZeroDuration()) >= absl::ZeroDuration()) return true;
    Error(path, "must not be negative");
    return false;
  }

  // Zero means the default; a source's share cannot be more than the whole.
  void CheckCallerIdentity(const std::string& path, const v1::CallerIdentity& caller) {
    const std::string& mode = caller.mode();
    if (mode != "proxy_protocol" && mode != "http_header") {
      Error(Join(path, "mode"), absl::StrCat(Quote(mode),
                                             ": must be proxy_protocol or http_header (omit "
                                             "caller_identity to hand the app no identity)"));
      return;
    }
    if (mode == "proxy_protocol") {
      if (!caller.header_name().empty()) {
        Error(Join(path, "header_name"), "is only used with mode http_header");
      }
      if (caller.max_header_bytes() != 0) {
        Error(Join(path, "max_header_bytes"), "is only used with mode http_header");
      }
      return;
    }
    const std::string& name = caller.header_name();
    // RFC 9110 token characters; the framing and hop-by-hop headers would
    // change how the app reads the request.
    const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return absl::ascii_isalnum(c) || absl::StrContains("!#$%&'*+-.^_`|~", c);
    });
    const std::string lower = absl::AsciiStrToLower(name);
    if (!name.empty() && !token) {
      Error(Join(path, "header_name"),
            absl::StrCat(Quote(name),
                         ": not an HTTP header name (letters, digits and "
                         "!#$%&'*+-.^_`|~ only)"));
    } else if (lower == "host" || lower == "content-length" || lower == "transfer-encoding" ||
               lower == "connection" || lower == "upgrade" || lower == "te" || lower == "trailer" ||
               lower == "keep-alive" || lower == "expect") {
      Error(
          Join(path, "header_name"),
          absl::StrCat(Quote(name), ": a framing or hop-by-hop header cannot carry the identity"));
    }
    const uint32_t max = caller.max_header_bytes();
    // http_parser refuses a header block above 80 KiB whatever we allow.
    if (max != 0 && (max < 1024 || max > 81920)) {
      Error(Join(path, "max_header_bytes"),
            absl::StrCat(max, " is outside 1024..81920 (the HTTP parser's own limit is 80 KiB)"));
    }
  }

  void CheckLimits(const std::string& listener, const v1::ListenerLimits& limits) {
    const uint32_t per_source = limits.max_pending_handshakes_per_source();
    const uint32_t pending = limits.max_pending_handshakes() > 0 ? limits.max_pending_handshakes()
                                                                 : kDefaultMaxPendingHandshakes;
    if (per_source > pending) {
      Error(Join(Join(listener, "limits"), "max_pending_handshakes_per_source"),
            absl::StrCat(per_source, " is more than max_pending_handshakes (", pending,
                         limits.max_pending_handshakes() > 0 ? "" : ", the default", ")"));
    }
  }

  void CheckTimeouts(const std::string& listener, bool present, const v1::Timeouts& t) {
    if (!present) return;
    const std::string path = Join(listener, "timeouts");
    CheckPositive(Join(path, "handshake"), t.has_handshake(), t.handshake());
    CheckPositive(Join(path, "connect"), t.has_connect(), t.connect());
    CheckPositive(Join(path, "idle"), t.has_idle(), t.idle());
  }

  void CheckRuntime() {
    const v1::RuntimeConfig& runtime = config_.runtime();
    if (runtime.workers() > kMaxWorkers) {
      Error("runtime.workers", absl::StrCat(runtime.workers(), " is more than ", kMaxWorkers,
                                            " (0 means one per core)"));
    }
    // Zero is meaningful for these: close at once, do not hold, do not cache.
    CheckNotNegative("runtime.drain_timeout", runtime.has_drain_timeout(), runtime.drain_timeout());
    CheckNotNegative("runtime.startup_hold", runtime.has_startup_hold(), runtime.startup_hold());
    CheckNotNegative("runtime.dns_cache", runtime.has_dns_cache(), runtime.dns_cache());
  }

  void CheckTls() {
    const v1::TlsConfig& tls = config_.tls();
    const std::string& version = tls.min_version();
    if (!version.empty() && version != "1.2" && version != "1.3") {
      Error("tls.min_version", absl::StrCat(Quote(version),
                                            " is not allowed: TLS 1.2 is the minimum; write "
                                            "\"1.2\" or \"1.3\""));
    }
    CheckPositive("tls.ticket_key_rotation", tls.has_ticket_key_rotation(),
                  tls.ticket_key_rotation());
  }

  void CheckLogging() {
    static constexpr absl::string_view kLevels[] = {"trace", "debug", "info", "warn", "error"};
    static constexpr absl::string_view kFormats[] = {"text", "json"};
    CheckOneOf("logging.level", config_.logging().level(), kLevels);
    CheckOneOf("logging.format", config_.logging().format(), kFormats);
  }

  template <size_t N>
  void CheckOneOf(const std::string& path, const std::string& value,
                  const absl::string_view (&allowed)[N]) {
    if (value.empty()) return;
    for (absl::string_view a : allowed) {
      if (value == a) return;
    }
    Error(path, absl::StrCat(Quote(value), " is not one of: ", absl::StrJoin(allowed, ", ")));
  }

  void CheckReauthentication() {
    const v1::ReauthenticationConfig& reauth = config_.reauthentication();
    // Zero is meaningful: close at once.
    CheckNotNegative("reauthentication.grace_period", reauth.has_grace_period(),
                     reauth.grace_period());
  }

  const ProxyConfig& config_;
  ConfigErrors* errors_;
  absl::flat_hash_map<std::string, std::string> names_;  // listener name -> its path
  std::vector<Bound> bound_;
};

}  // namespace

void ValidateProxyConfig(const ProxyConfig& config, ConfigErrors* errors) {
  Validator(config, errors).Run();
}

absl::Status ValidateProxyConfig(const ProxyConfig& config) {
  ConfigErrors errors;
  ValidateProxyConfig(config, &errors);
  return errors.ToStatus("configuration");
}

}  // namespace palisade::config
