#include "control/server/control_server.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/admin/admin_token.h"
#include "control/ca/key_seal.h"
#include "control/state/state_files.h"
#include "identity/certificate.h"
#include "identity/keys.h"
#include "identity/trust_bundle.h"
#include "runtime/files/files.h"
#include "runtime/http/request_guard.h"
#include "runtime/log/logging.h"
#include "runtime/net/sockets.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::server {
namespace {

constexpr char kRolloverFile[] = "rollover.json";

std::string Rfc3339(absl::Time t) {
  if (t == absl::InfinitePast()) return "";
  if (t == absl::InfiniteFuture()) return "never";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::Status FlagError(absl::string_view flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

// Binds and closes `address` at once, so that a port in use is found before
// anything is written. A fixed port only: port 0 always binds.
absl::Status CheckCanListen(absl::string_view flag, const net::SocketAddress& address) {
  if (address.port() == 0) return absl::OkStatus();
  absl::StatusOr<net::UniqueFd> probe = net::BindListener(address, /*reuse_port=*/false, 1);
  if (!probe.ok()) return FlagError(flag, probe.status().message());
  return absl::OkStatus();
}

}  // namespace

ControlServer::ControlServer(const ControlServerOptions& options)
    : options_(options), rollover_(options.rollover) {}

ControlServer::~ControlServer() { Stop(); }

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Create(
    const ControlServerOptions& options) {
  std::unique_ptr<ControlServer> server(new ControlServer(options));
  RETURN_IF_ERROR(server->Open());
  return server;
}

absl::Status ControlServer::Open() {
  const ControlServerOptions& o = options_;
  if (o.trust_domain.empty()) return FlagError("trust_domain", "is required");
  if (absl::Status s = identity::ValidateTrustDomain(o.trust_domain); !s.ok()) {
    return FlagError("trust_domain", s.message());
  }
  if (o.state_dir.empty()) return FlagError("state_dir", "is required");
  if (o.svid_ttl < absl::Seconds(2)) return FlagError("svid_ttl", "must be at least 2s");
  if (o.reattestation_ttl <= absl::ZeroDuration()) {
    return FlagError("reattestation_ttl", "must be more than zero");
  }
  RETURN_IF_ERROR(o.issuance.Validate());
  if (o.first_byte_timeout <= absl::ZeroDuration()) {
    return FlagError("first_byte_timeout", "must be more than zero");
  }
  if (o.first_stream_timeout < absl::Seconds(1)) {
    return FlagError("first_stream_timeout", "must be at least 1s");
  }
  if (o.tls_refusal_log_interval <= absl::ZeroDuration()) {
    return FlagError("tls_refusal_log_interval", "must be more than zero");
  }
  if (o.tls_refusal_log_burst == 0) return FlagError("tls_refusal_log_burst", "must be at least 1");
  if (o.max_pending_handshakes_per_source == 0) {
    return FlagError("max_pending_handshakes_per_source", "must be at least 1");
  }
  if (o.max_connections > 0 && o.svid_reserved_connections >= o.max_connections) {
    return FlagError("svid_reserved_connections",
                     absl::StrCat("must be fewer than --max_connections (", o.max_connections,
                                  "): bootstrap needs room too"));
  }
  absl::StatusOr<net::SocketAddress> listen = net::SocketAddress::Parse(o.listen);
  if (!listen.ok()) return FlagError("listen", listen.status().message());
  absl::StatusOr<net::SocketAddress> admin = net::SocketAddress::Parse(o.admin);
  if (!admin.ok()) return FlagError("admin", admin.status().message());
  if (!admin->IsLoopback() && !o.admin_allow_non_loopback) {
    return FlagError("admin", absl::StrCat(o.admin,
                                           " is not a loopback address; the admin API is for "
                                           "this host (pass --admin_allow_non_loopback to "
                                           "insist)"));
  }
  RETURN_IF_ERROR(RefuseStrayDiscoveryFlags(o.issuer_discovery));
  if (!o.jwks_file.empty() && o.issuer_discovery.enabled) {
    return FlagError("sa_issuer_discovery",
                     "cannot be used with --jwks_file (the keys come from one place)");
  }
  if (!o.jwks_file.empty()) {
    if (o.sa_issuer.empty()) return FlagError("sa_issuer", "is required with --jwks_file");
    if (o.sa_audience.empty()) return FlagError("sa_audience", "is required with --jwks_file");
    absl::StatusOr<std::string> text = files::ReadSmallFile(o.jwks_file, "");
    if (!text.ok()) return FlagError("jwks_file", text.status().message());
    absl::StatusOr<std::shared_ptr<const auth::Jwks>> jwks = auth::Jwks::Parse(*text);
    if (!jwks.ok())
      return FlagError("jwks_file", absl::StrCat(o.jwks_file, ": ", jwks.status().message()));
    metrics_.OnJwksLoad(/*accepted=*/true, (*jwks)->size());
    sync::MutexLock lock(&jwks_mu_);
    jwks_text_ = *std::move(text);
    service_accounts_ = std::make_unique<auth::ServiceAccountVerifier>(
        *jwks, auth::ServiceAccountVerifier::Options{o.trust_domain, o.sa_issuer, o.sa_audience,
                                                     o.clock_skew});
  } else if (o.issuer_discovery.enabled) {
    if (o.sa_issuer.empty())
      return FlagError("sa_issuer", "is required with --sa_issuer_discovery");
    if (o.sa_audience.empty()) {
      return FlagError("sa_audience", "is required with --sa_issuer_discovery");
    }
    // Empty until the first fetch (Start); a token naming a key the set
    // lacks asks the refresher for a fetch, which never blocks the caller.
    auth::ServiceAccountVerifier::Options verifier{o.trust_domain, o.sa_issuer, o.sa_audience,
                                                   o.clock_skew};
    verifier.on_unknown_key = [this] {
      metrics_.OnUnknownKeyRefresh(jwks_refresher_->RequestRefresh());
    };
    service_accounts_ = std::make_unique<auth::ServiceAccountVerifier>(
        *auth::Jwks::Parse(R"({"keys": []})"), std::move(verifier));
    ASSIGN_OR_RETURN(jwks_refresher_, NewIssuerRefresher(o.issuer_discovery, o.sa_issuer,
                                                         service_accounts_.get(), &metrics_));
  } else if (!o.sa_issuer.empty() || !o.sa_audience.empty()) {
    return absl::InvalidArgumentError(
        "--jwks_file or --sa_issuer_discovery is required with --sa_issuer/--sa_audience");
  }

  service::IdentityPort::Options port;
  port.listen = *listen;
  port.trust_domain = o.trust_domain;
  port.clock_skew = o.clock_skew;
  port.max_connections = o.max_connections;
  port.reserved_for_svids = o.svid_reserved_connections;
  port.max_anonymous_per_source = o.max_anonymous_connections_per_source;
  port.max_pending = o.max_pending_handshakes;
  port.max_pending_per_source = o.max_pending_handshakes_per_source;
  port.first_byte_timeout = o.first_byte_timeout;
  port.refusal_log_burst = o.tls_refusal_log_burst;
  port.refusal_log_interval = o.tls_refusal_log_interval;
  // Only the reserve can be wrong once the flags above passed: against the
  // cap the descriptor limit gives.
  if (auto resolved = service::IdentityPort::Resolve(port); !resolved.ok()) {
    return FlagError("svid_reserved_connections", resolved.status().message());
  }

  // A serve that cannot start must leave the state directory as it was: a new
  // CA written by a run that then fails would be a root nobody asked for.
  RETURN_IF_ERROR(CheckCanListen("listen", *listen));
  RETURN_IF_ERROR(CheckCanListen("admin", *admin));
  for (const auto& [flag, text] :
       {std::pair<absl::string_view, const std::string&>{"public_listen", o.public_listen},
        {"webhook_listen", o.webhook_listen},
        {"bundle_endpoint_listen", o.bundle_endpoint_listen}}) {
    if (text.empty()) continue;
    absl::StatusOr<net::SocketAddress> address = net::SocketAddress::Parse(text);
    if (!address.ok()) return FlagError(flag, address.status().message());
    RETURN_IF_ERROR(CheckCanListen(flag, *address));
  }
  const bool plugin = !o.plugin_ca_cert.empty() || !o.plugin_ca_key.empty() ||
                      !o.plugin_root_bundle.empty() || !o.plugin_ca_chain.empty();
  const ca::CertificateAuthority::SelfManagedOptions self_managed{o.trust_domain, o.state_dir};
  const absl::Duration fresh_ca_life =
      std::min(self_managed.root_ttl, self_managed.intermediate_ttl);
  if (!plugin && o.svid_ttl > fresh_ca_life) {
    return FlagError("svid_ttl", absl::StrCat(absl::FormatDuration(o.svid_ttl),
                                              " is longer than the CA's own life (",
                                              absl::FormatDuration(fresh_ca_life), ")"));
  }
  if (!o.ca_kek_file.empty() && o.store != "etcd") {
    return FlagError("ca_kek_file",
                     "only with --store=etcd (the file store keeps the CA in the state directory)");
  }
  if (!o.ca_kek_file.empty() && plugin) {
    return FlagError("ca_kek_file",
                     "only with a self-managed CA (a plug-in CA's key is the "
                     "operator's file)");
  }
  if (o.ca_kek_file.empty() && o.store == "etcd" && !plugin) {
    return FlagError("ca_kek_file",
                     "required with --store=etcd and a self-managed CA: its private keys are "
                     "sealed with it in etcd (32 random bytes: head -c 32 /dev/urandom > FILE; "
                     "chmod 0400 FILE)");
  }
  // TLS to etcd: its files are checked before anything is written.
  std::shared_ptr<const state::etcd::EtcdTlsConfig> etcd_tls;
  if (o.store == "etcd" && o.etcd_tls.enabled()) {
    ASSIGN_OR_RETURN(etcd_tls, state::etcd::EtcdTlsConfig::Load(o.etcd_tls));
  }
  if (absl::Status s = state::EnsureDirectory(o.state_dir, 0700); !s.ok()) {
    // Who may write it is the host's problem, not the flag's (exit 1, not 2).
    if (absl::IsPermissionDenied(s)) return s;
    return FlagError("state_dir", s.message());
  }

  const absl::Time now = absl::Now();
  // Before the CA: a malformed stored bundle refuses start without a root
  // nobody asked for.
  RETURN_IF_ERROR(OpenFederation(now));
  // Before the CA: with --store=etcd a self-managed CA lives there.
  if (o.store == "etcd") {
    SharedStateOptions shared;
    shared.endpoints = o.etcd_endpoints;
    shared.prefix =
        o.etcd_prefix.empty() ? absl::StrCat("/palisade/", o.trust_domain, "/") : o.etcd_prefix;
    shared.tls = etcd_tls;
    absl::StatusOr<std::unique_ptr<SharedState>> created = SharedState::Create(shared);
    if (!created.ok()) {
      if (!absl::IsInvalidArgument(created.status())) return created.status();
      return FlagError("etcd_prefix", created.status().message());
    }
    shared_ = *std::move(created);
  }
  if (shared_ != nullptr && !plugin) {
    ASSIGN_OR_RETURN(std::string kek, ca::LoadKek(o.ca_kek_file));
    ca::CertificateAuthority::SharedOptions s{o.trust_domain, o.state_dir, shared_->store(),
                                              std::move(kek)};
    ASSIGN_OR_RETURN(ca_, ca::CertificateAuthority::OpenShared(s, now));
  } else if (plugin) {
    ca::CertificateAuthority::PluginOptions p{o.trust_domain,    o.state_dir,
                                              o.plugin_ca_cert,  o.plugin_ca_key,
                                              o.plugin_ca_chain, o.plugin_root_bundle};
    ASSIGN_OR_RETURN(ca_, ca::CertificateAuthority::OpenPlugin(p, now));
  } else {
    ASSIGN_OR_RETURN(ca_, ca::CertificateAuthority::OpenSelfManaged(self_managed, now));
  }
  // Issuance would cut every SVID short at the chain's end without a word.
  if (const absl::Duration left = ca_->IssuingChainNotAfter() - now; o.svid_ttl > left) {
    return FlagError(
        "svid_ttl",
        absl::StrCat(absl::FormatDuration(o.svid_ttl), " is longer than the CA's remaining life (",
                     absl::FormatDuration(absl::Trunc(left, absl::Seconds(1))), ", until ",
                     Rfc3339(ca_->IssuingChainNotAfter()), ")"));
  }
  if (o.store == "etcd") {
    absl::StatusOr<std::unique_ptr<ReplicaCoordination>> coordination =
        ReplicaCoordination::Create(shared_->etcd_store(), o.replica_id, o.leader_lease_ttl);
    if (!coordination.ok()) return coordination.status();  // names its flag
    coordination_ = *std::move(coordination);
    // A rollover step's CA record write is fenced like its status write.
    ca_->SetLeaderWrites(coordination_->leader_writes());
    tokens_ = auth::JoinTokenStore::OpenShared(shared_->store());
  } else {
    ASSIGN_OR_RETURN(tokens_,
                     auth::JoinTokenStore::Open(state::JoinPath(o.state_dir, "tokens.json")));
  }
  ASSIGN_OR_RETURN(registry_,
                   service::WorkloadRegistry::Open(state::JoinPath(o.state_dir, "workloads.json"),
                                                   static_cast<size_t>(o.issuance.max_unexpired)));
  ASSIGN_OR_RETURN(audit_, service::AuditLog::Open(state::JoinPath(o.state_dir, "audit.log")));
  if (shared_ != nullptr) {
    revocations_ = service::RevocationList::OpenShared(shared_->store());
  } else {
    ASSIGN_OR_RETURN(revocations_, service::RevocationList::Open(
                                       state::JoinPath(o.state_dir, "revocations.json")));
  }

  {
    sync::MutexLock lock(&mu_);
    const std::string path = state::JoinPath(o.state_dir, kRolloverFile);
    // With etcd the stored status is the truth; the first tick adopts it.
    absl::StatusOr<std::string> text =
        coordination_ != nullptr ? absl::NotFoundError("in etcd") : state::ReadStateFile(path);
    if (text.ok()) {
      nlohmann::json doc = nlohmann::json::parse(*text, nullptr, false);
      absl::StatusOr<ca::RolloverStatus> status = doc.is_discarded()
                                                      ? absl::InvalidArgumentError("not valid JSON")
                                                      : ca::RolloverStatusFromJson(doc);
      if (!status.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "state file ", path, ": ", status.status().message(), " (corrupt); refusing to start"));
      }
      rollover_.Restore(*status);
      // Issuance must be under the new root from rekeying on, whatever
      // point a crash interrupted.
      if (status->phase == ca::RolloverPhase::kRekeying ||
          status->phase == ca::RolloverPhase::kRetiring) {
        RETURN_IF_ERROR(ca_->ActivateNewest());
      }
    } else if (!absl::IsNotFound(text.status())) {
      return text.status();
    }
  }

  service::IdentityServiceOptions service_options;
  service_options.trust_domain = o.trust_domain;
  service_options.svid_ttl = o.svid_ttl;
  service_options.backdate = o.clock_skew;
  service_options.hello_timeout = o.hello_timeout;
  service_options.csr_timeout = o.csr_timeout;
  service_options.reattestation_ttl = o.reattestation_ttl;
  service_options.limits = o.issuance;
  if (shared_ != nullptr && o.refuse_renewals_without_store) {
    service_options.renewals_blocked_by = [this] { return shared_->Problem(); };
  }
  service_ = std::make_unique<service::IdentityService>(
      service_options, service::IdentityServiceDeps{
                           ca_.get(), tokens_.get(), service_accounts_.get(), registry_.get(),
                           &peers_, audit_.get(), &metrics_, revocations_.get(), federated_.get()});
  // De-registered before revocation existed (or written before a crash
  // between the two): their certificates still live, so they are revoked.
  // (With the shared store a de-registration is revoked first, then recorded.)
  for (const std::string& id :
       shared_ != nullptr ? std::vector<std::string>() : registry_->Deregistered()) {
    if (revocations_->Contains(id)) continue;
    const std::optional<absl::Time> latest = registry_->LatestNotAfter(id);
    if (!latest.has_value() || *latest < absl::Now()) continue;
    RETURN_IF_ERROR(revocations_->Revoke(id, *latest, "deregistered", absl::Now()).status());
  }
  metrics_.SetDenyList(revocations_->Snapshot().entries.size());

  int grpc_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &grpc_port);
  builder.RegisterService(service_.get());
  // The service refuses messages over 64 KiB itself, with an audit line;
  // gRPC's own limit only stops what is far beyond that.
  builder.SetMaxReceiveMessageSize(1 << 20);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  // A connection that opens no stream (or has none left) is closed: idle
  // connections must not hold the identity port's slots (README "Identity
  // port limits"). A proxy's Watch stream stays open, so it is never idle.
  const int first_stream_ms = static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(o.first_stream_timeout), std::numeric_limits<int>::max()));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, first_stream_ms);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, first_stream_ms);
  grpc_ = builder.BuildAndStart();
  if (grpc_ == nullptr || grpc_port == 0) {
    return absl::InternalError("cannot start the in-process gRPC server on 127.0.0.1");
  }

  port.backend = *net::SocketAddress::Parse(absl::StrCat("127.0.0.1:", grpc_port));
  absl::StatusOr<std::unique_ptr<service::IdentityPort>> identity_port =
      service::IdentityPort::Create(port, &peers_, &metrics_, audit_.get());
  if (!identity_port.ok()) return FlagError("listen", identity_port.status().message());
  identity_port_ = *std::move(identity_port);
  // A fresh credential at every start: one that leaked dies with a restart.
  const std::string token_file = o.admin_token_file.empty()
                                     ? state::JoinPath(o.state_dir, admin::kAdminTokenFile)
                                     : o.admin_token_file;
  absl::StatusOr<std::string> token = admin::CreateAdminToken(token_file);
  if (!token.ok()) return FlagError("admin_token_file", token.status().message());
  http_ = std::make_unique<http::HttpServer>(AdminConnectionLimits("admin"));
  admin::InstallAdminRoutes(http_.get(), this,
                            http::RequestGuard({*admin, o.admin_host_names, *std::move(token)}));
  return absl::OkStatus();
}

http::ConnectionLimits ControlServer::AdminConnectionLimits(const std::string& name) {
  http::ConnectionLimits limits;
  limits.name = name;
  limits.observer = [this, name](http::ConnectionEvent e) {
    if (e == http::ConnectionEvent::kCapReached) {
      metrics_.OnAdminCapReached(name);
    } else {
      metrics_.OnAdminRequestDeadlineClosed(name);
    }
  };
  return limits;
}

absl::Status ControlServer::Start() {
  // A --replica_id in use by a live replica is refused before this one
  // serves anything; a killed one's key is waited for (its lease's TTL).
  if (coordination_ != nullptr) {
    RETURN_IF_ERROR(coordination_->Start(2 * options_.leader_lease_ttl + absl::Seconds(2)));
  }
  {
    sync::MutexLock lock(&mu_);
    RETURN_IF_ERROR(RenewServingSvid());
    last_flush_ = absl::Now();
  }
  if (jwks_refresher_ != nullptr) {
    // The first fetch, before any stream: logged and counted by itself. A
    // failure does not stop the server (join tokens and renewals need no
    // issuer); the refresher keeps trying.
    (void)jwks_refresher_->Start();
  }
  if (federation_fetcher_ != nullptr) federation_fetcher_->Start();
  RETURN_IF_ERROR(identity_port_->Start());
  if (absl::Status s = http_->Start(*net::SocketAddress::Parse(options_.admin)); !s.ok()) {
    return FlagError("admin", absl::StrCat(options_.admin, ": ", s.message()));
  }
  // The watches before started_: /ready reads their state only once
  // started_ is set (under mu_), not while Watch() adds them.
  if (shared_ != nullptr) {
    RETURN_IF_ERROR(shared_->Watch(
        [this](const std::vector<state::StoredRecord>& records, int64_t) {
          LogRefusedRecords("shared join token record refused", records,
                            tokens_->ReplaceFromStore(records), &refused_tokens_);
        },
        [this](const std::vector<state::StoredRecord>& records, int64_t revision) {
          OnSharedRevocations(records, revision);
        }));
    if (ca_->shared()) {
      RETURN_IF_ERROR(shared_->WatchCa([this](const std::vector<state::StoredRecord>& records,
                                              int64_t) { OnSharedCa(records); }));
    }
  }
  {
    sync::MutexLock lock(&mu_);
    started_ = true;
  }
  housekeeping_ = std::thread([this] { Housekeeping(); });
  log::LogEvent(
      log::Level::kInfo, "control", "palisade-control serving",
      {{"trust_domain", options_.trust_domain},
       {"identity_port", identity_port_->address().ToString()},
       {"max_connections", identity_port_->limits().max_connections},
       {"svid_reserved_connections", identity_port_->limits().reserved_for_svids},
       {"max_anonymous_connections_per_source", identity_port_->limits().max_anonymous_per_source},
       {"max_pending_handshakes", identity_port_->limits().max_pending},
       {"admin", http_->address().ToString()},
       {"ca", ca_->self_managed() ? "self_managed" : "plugin"},
       {"root", ca_->ActiveRootFingerprint()},
       {"bundle_version", ca_->bundle_version()}});
  return absl::OkStatus();
}

void ControlServer::Stop() {
  {
    sync::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    mu_.NotifyAll();
  }
  if (shared_) shared_->Stop();
  if (housekeeping_.joinable()) housekeeping_.join();
  if (coordination_) coordination_->Stop();  // resigns at once
  if (jwks_refresher_) jwks_refresher_->Stop();
  if (federation_fetcher_) federation_fetcher_->Stop();
  http_.reset();
  if (identity_port_) identity_port_->Stop();
  if (grpc_) grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (registry_) (void)registry_->Flush(absl::Now());
}

void ControlServer::SetServingObserver(ServingObserver observer) {
  sync::MutexLock lock(&mu_);
  serving_observer_ = std::move(observer);
}

absl::Status ControlServer::RenewServingSvid() {
  ASSIGN_OR_RETURN(bssl::UniquePtr<EVP_PKEY> key, identity::GenerateP256Key());
  EVP_PKEY_up_ref(key.get());
  identity::CheckedCsr csr{
      *identity::SpiffeId::FromParts(options_.trust_domain, "/palisade/control"),
      bssl::UniquePtr<EVP_PKEY>(key.get())};
  const absl::Time now = absl::Now();
  const absl::Time started = now;
  identity::LeafOptions leaf;
  leaf.now = now;
  leaf.ttl = options_.svid_ttl;
  leaf.backdate = std::min(options_.clock_skew, absl::Minutes(5));
  ASSIGN_OR_RETURN(ca::IssuedSvid svid, ca_->Issue(csr, leaf));
  std::vector<X509*> chain = {svid.leaf.get()};
  for (const auto& c : svid.intermediates) chain.push_back(c.get());
  const ca::Bundle bundle = ca_->CurrentBundle();
  identity::TrustBundleSet::Builder builder;
  for (const auto& root : bundle.roots) {
    RETURN_IF_ERROR(builder.Add(options_.trust_domain, root.get()));
  }
  RETURN_IF_ERROR(identity_port_->SetCredentials(chain, key.get(), builder.Build()));
  if (serving_observer_) {
    std::vector<X509*> roots;
    for (const auto& root : bundle.roots) roots.push_back(root.get());
    serving_observer_(chain, key.get(), roots, bundle.version);
  }
  serving_key_ = std::move(key);
  serving_serial_ = identity::SerialHex(svid.leaf.get());
  serving_issued_ = now;
  serving_not_after_ = identity::NotAfter(svid.leaf.get());
  installed_bundle_version_ = bundle.version;
  metrics_.OnIssued("self", absl::Now() - started);
  metrics_.SetServingSvidExpiry(serving_not_after_);
  metrics_.SetBundle(bundle.version, bundle.roots.size());
  log::LogEvent(log::Level::kDebug, "control", "serving SVID renewed",
                {{"serial", serving_serial_}, {"not_after", Rfc3339(serving_not_after_)}});
  return absl::OkStatus();
}

absl::Status ControlServer::OpenFederation(absl::Time now) {
  if (options_.federation.empty()) return absl::OkStatus();
  const federation::BundleFetcher::Options& refresh = options_.federation_refresh;
  if (refresh.min_refresh < absl::Seconds(1)) {
    return FlagError("federation_min_refresh", "must be at least 1s");
  }
  if (refresh.max_refresh < refresh.min_refresh) {
    return FlagError("federation_max_refresh", "must be at least --federation_min_refresh");
  }
  ASSIGN_OR_RETURN(
      federated_, federation::FederatedBundles::Open(options_.federation, options_.state_dir, now));
  std::vector<std::string> domains;
  for (const federation::FederatedDomain& d : options_.federation) {
    domains.push_back(d.trust_domain);
  }
  federation_metrics_ = std::make_unique<federation::FederationMetrics>(domains);
  federation_fetcher_ = std::make_unique<federation::BundleFetcher>(
      options_.federation, federated_.get(), refresh,
      [this](const federation::BundleFetcher::Outcome& outcome) {
        federation_metrics_->OnRefresh(outcome.trust_domain, outcome.result);
        // Proxies verify a peer against its own domain's bundle: every
        // stream gets the new one.
        if (outcome.changed) service_->PushBundle();
      });
  return absl::OkStatus();
}

nlohmann::json ControlServer::FederationJson() const {
  nlohmann::json out = nlohmann::json::array();
  if (federated_ == nullptr) return out;
  auto time = [](absl::Time t) {
    return t == absl::InfinitePast() ? nlohmann::json(nullptr) : nlohmann::json(Rfc3339(t));
  };
  for (const federation::DomainStatus& d : federated_->Status()) {
    out.push_back({{"trust_domain", d.trust_domain},
                   {"endpoint", d.endpoint},
                   {"profile", d.profile},
                   {"sequence",
                    d.sequence.has_value() ? nlohmann::json(*d.sequence) : nlohmann::json(nullptr)},
                   {"roots", d.roots},
                   {"source", d.source},
                   {"last_success", time(d.last_success)},
                   {"last_attempt", time(d.last_attempt)},
                   {"last_result", d.last_result},
                   {"last_error", d.last_error}});
  }
  return out;
}

void ControlServer::AfterBundleChange() {
  if (absl::Status s = RenewServingSvid(); !s.ok()) {
    log::LogEvent(log::Level::kError, "control", "cannot re-issue the serving SVID",
                  {{"error", std::string(s.message())}});
  }
  service_->PushBundle();
}

absl::Status ControlServer::SaveRollover(bool as_leader) {
  if (coordination_ != nullptr) {
    int64_t revision = 0;
    ASSIGN_OR_RETURN(
        bool written,
        coordination_->SaveRollover(rollover_.status(), rollover_revision_, &revision, as_leader));
    if (!written) {
      return absl::AbortedError(
          as_leader ? "the stored rollover status changed meanwhile, or this replica no longer "
                      "leads (the write is fenced on the leader key)"
                    : "the stored rollover status changed meanwhile (written through another "
                      "replica)");
    }
    rollover_revision_ = revision;
    stored_waiting_on_ = rollover_.status().waiting_on;
    return absl::OkStatus();
  }
  return state::WriteFileAtomically(state::JoinPath(options_.state_dir, kRolloverFile),
                                    ca::RolloverStatusToJson(rollover_.status()).dump(2) + "\n",
                                    0600);
}

void ControlServer::Housekeeping() {
  for (;;) {
    {
      sync::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping_; },
                           options_.tick);
      if (stopping_) return;
    }
    Tick();
  }
}

absl::Status ControlServer::ReloadJwks() {
  if (service_accounts_ == nullptr) {
    return absl::FailedPreconditionError("no --jwks_file: service-account tokens are not accepted");
  }
  sync::MutexLock lock(&jwks_mu_);
  absl::StatusOr<std::string> text = files::ReadSmallFile(options_.jwks_file, "jwks_file");
  absl::Status problem = text.status();
  if (text.ok()) {
    if (*text == jwks_text_) {
      jwks_problem_.clear();
      return absl::OkStatus();
    }
    absl::StatusOr<std::shared_ptr<const auth::Jwks>> jwks = auth::Jwks::Parse(*text);
    if (jwks.ok()) {
      service_accounts_->ReplaceJwks(*jwks);
      metrics_.OnJwksLoad(/*accepted=*/true, (*jwks)->size());
      log::LogEvent(log::Level::kInfo, "control", "service-account keys reloaded",
                    {{"jwks_file", options_.jwks_file}, {"keys", (*jwks)->size()}});
      jwks_text_ = *std::move(text);
      jwks_problem_.clear();
      return absl::OkStatus();
    }
    problem = absl::InvalidArgumentError(
        absl::StrCat("jwks_file \"", options_.jwks_file, "\": ", jwks.status().message()));
  }
  // Logged and counted once per distinct problem, not on every refresh.
  if (problem.message() != jwks_problem_) {
    jwks_problem_ = std::string(problem.message());
    metrics_.OnJwksLoad(/*accepted=*/false, 0);
    log::LogEvent(log::Level::kError, "control",
                  "service-account keys not reloaded; the keys in use stay",
                  {{"error", jwks_problem_}, {"keys_in_use", service_accounts_->jwks()->size()}});
  }
  return problem;
}

// Expired tokens are kept a week, so that `tokens list` and the refusals
// still say "expired" for a while, then forgotten: one re-attestation token
// per bootstrap must not grow tokens.json forever.
void ControlServer::PruneTokensIfDue() {
  const absl::Duration every = options_.token_prune_interval;
  const absl::Duration retention = options_.token_retention;
  const absl::Time now = absl::Now();
  if (now < next_token_prune_) return;
  next_token_prune_ = now + every;
  absl::StatusOr<size_t> pruned = tokens_->PruneExpired(now, retention);
  if (!pruned.ok()) {
    log::LogEvent(log::Level::kError, "control", "cannot prune expired tokens; will retry",
                  {{"error", std::string(pruned.status().message())}});
  } else if (*pruned > 0) {
    log::LogEvent(log::Level::kInfo, "control", "expired tokens forgotten",
                  {{"count", *pruned}, {"expired_before", Rfc3339(now - retention)}});
  }
}

// An entry goes once the last certificate it covers has expired, with the
// clock skew peers allow on top (they accept a certificate that long after
// its notAfter).
void ControlServer::PruneRevocations() {
  absl::StatusOr<size_t> pruned = revocations_->Prune(absl::Now(), options_.clock_skew);
  if (!pruned.ok()) {
    log::LogEvent(log::Level::kError, "control", "cannot prune the deny-list; will retry",
                  {{"error", std::string(pruned.status().message())}});
    return;
  }
  if (*pruned == 0) return;
  metrics_.SetDenyList(revocations_->Snapshot().entries.size());
  service_->PushDenyList();
  log::LogEvent(log::Level::kInfo, "control", "expired deny-list entries dropped",
                {{"count", *pruned}});
}

void ControlServer::Tick() {
  service_->CheckDeadlines();
  PruneRevocations();
  service_->SweepLimits();
  identity_port_->FlushRefusalLog(absl::Now());
  PruneTokensIfDue();
  const ReplicaTick replicas = CoordinateReplicas(service_->Fleet());
  const std::vector<ca::ProxyView>& fleet = replicas.fleet;
  sync::MutexLock lock(&mu_);
  if (replicas.stored.has_value()) AdoptStoredRollover(*replicas.stored, replicas.lead);
  const absl::Time now = absl::Now();
  if (now >= serving_issued_ + (serving_not_after_ - serving_issued_) / 2 ||
      installed_bundle_version_ != ca_->bundle_version()) {
    if (absl::Status s = RenewServingSvid(); !s.ok()) {
      log::LogEvent(log::Level::kError, "control", "cannot renew the serving SVID",
                    {{"error", std::string(s.message())}});
    }
  }
  // Once in the cluster: by the leader only.
  if (absl::StatusOr<bool> renewed = replicas.lead ? ca_->RenewIntermediateIfDue(now) : false;
      !renewed.ok()) {
    log::LogEvent(log::Level::kError, "control", "cannot renew the issuing intermediate",
                  {{"error", std::string(renewed.status().message())}});
  } else if (*renewed) {
    log::LogEvent(log::Level::kInfo, "control", "issuing intermediate renewed", {});
  }
  const ca::RolloverPhase before = rollover_.status().phase;
  const ca::RolloverStatus status_before = rollover_.status();
  const ca::RolloverMachine::Transition step =
      replicas.lead ? rollover_.Evaluate(now, fleet) : ca::RolloverMachine::Transition::kNone;
  absl::Status done;
  switch (step) {
    case ca::RolloverMachine::Transition::kNone:
      break;
    case ca::RolloverMachine::Transition::kEnterRekeying:
      done = ca_->ActivateNewest();
      if (done.ok()) {
        AfterBundleChange();
        service_->RequestRekey("root_rollover");
      }
      break;
    case ca::RolloverMachine::Transition::kEnterRetiring:
      break;
    case ca::RolloverMachine::Transition::kFinish:
      done = ca_->RetireInactive();
      if (done.ok()) AfterBundleChange();
      break;
  }
  if (!done.ok()) {
    log::LogEvent(log::Level::kError, "control", "root rollover step failed; will retry",
                  {{"error", std::string(done.message())}});
    // Retried on the next tick from the same phase.
    ca::RolloverStatus status = rollover_.status();
    status.phase = before;
    if (!status.history.empty()) status.history.pop_back();
    rollover_.Restore(status);
  } else if (step != ca::RolloverMachine::Transition::kNone) {
    if (absl::Status s = SaveRollover(/*as_leader=*/true); !s.ok()) {
      log::LogEvent(log::Level::kError, "control", "cannot save rollover state",
                    {{"error", std::string(s.message())}});
      // Not taken: memory stays what the store says (with etcd the next
      // tick adopts whatever the leader wrote meanwhile).
      if (coordination_ != nullptr) rollover_.Restore(status_before);
    } else {
      log::LogEvent(log::Level::kInfo, "control", "root rollover",
                    {{"phase", std::string(ca::PhaseName(rollover_.status().phase))},
                     {"step", rollover_.status().history.back()}});
    }
  } else if (replicas.lead && coordination_ != nullptr &&
             rollover_.status().waiting_on != stored_waiting_on_) {
    // No step, but whom it waits on changed: stored (fenced, as a step) for
    // the followers' status. A failure is retried on the next tick.
    if (absl::Status s = SaveRollover(/*as_leader=*/true); !s.ok()) {
      log::LogEvent(log::Level::kDebug, "control", "cannot store the rollover's waiting_on",
                    {{"error", std::string(s.message())}});
    }
  }
  metrics_.SetRollover(std::string(ca::PhaseName(rollover_.status().phase)),
                       rollover_.status().waiting_on.size());
  if (now - last_flush_ >= absl::Seconds(5)) {
    last_flush_ = now;
    if (absl::Status s = registry_->Flush(now); !s.ok()) {
      log::LogEvent(log::Level::kWarn, "control", "cannot write the workload registry",
                    {{"error", std::string(s.message())}});
    }
  }
}

std::string ControlServer::MetricsText() {
  metrics_.SetLeader(coordination_ == nullptr || coordination_->IsLeader(),
                     coordination_ == nullptr ? 0 : coordination_->leader_changes());
  metrics_.SetStreams(static_cast<int64_t>(service_->stream_count()));
  if (shared_ != nullptr) metrics_.SetEtcdTlsFailures(shared_->TlsFailures());
  const ca::Bundle bundle = ca_->CurrentBundle();
  metrics_.SetBundle(bundle.version, bundle.roots.size());
  if (jwks_refresher_ != nullptr) {
    const absl::Time fetched = jwks_refresher_->last_success();
    // Never fetched: as old as the process's wait for it.
    metrics_.SetJwksAge(fetched == absl::InfinitePast() ? absl::Now() - created_at_
                                                        : absl::Now() - fetched);
  }
  absl::Time earliest_root = absl::InfiniteFuture();
  for (const auto& root : bundle.roots) {
    earliest_root = std::min(earliest_root, identity::NotAfter(root.get()));
  }
  metrics_.SetCaExpiry(ca_->IssuingChainNotAfter(), earliest_root);
  std::string text = metrics_.Serialize();
  if (federated_ != nullptr) {
    text += federation_metrics_->Serialize(federated_->Status(), absl::Now());
  }
  return text;
}

std::string ControlServer::NotReadyReason() {
  sync::MutexLock lock(&mu_);
  if (!started_) return "starting";
  if (stopping_) return "stopping";
  if (serving_not_after_ <= absl::Now()) return "the serving SVID has expired";
  if (shared_ != nullptr) {
    if (std::string problem = shared_->Problem(); !problem.empty()) return problem;
  }
  if (coordination_ != nullptr) return coordination_->Problem();
  return "";
}

void ControlServer::LogRefusedRecords(absl::string_view event,
                                      const std::vector<state::StoredRecord>& records,
                                      const std::vector<absl::Status>& errors,
                                      std::set<std::string>* logged) {
  std::set<std::string> refused;
  for (const absl::Status& e : errors) {
    // The error names its key ("store record \"KEY\": ..."); find the record
    // for its mod revision. One not found is logged every time.
    std::string id;
    for (const state::StoredRecord& r : records) {
      if (absl::StrContains(e.message(), absl::StrCat("\"", r.key, "\""))) {
        id = absl::StrCat(r.key, "@", r.revision);
        break;
      }
    }
    bool seen = false;
    if (!id.empty()) {
      refused.insert(id);
      sync::MutexLock lock(&refused_mu_);
      seen = logged->count(id) > 0;
    }
    if (!seen) {
      log::LogEvent(log::Level::kError, "control", std::string(event),
                    {{"error", std::string(e.message())}});
    }
  }
  sync::MutexLock lock(&refused_mu_);
  logged->swap(refused);
}

void ControlServer::OnSharedCa(const std::vector<state::StoredRecord>& records) {
  const std::string key = shared_->store()->FullKey(ca::CertificateAuthority::kSharedKey);
  const std::string root_before = ca_->ActiveRootFingerprint();
  absl::StatusOr<bool> changed = ca_->ReloadFromStore(records, absl::Now());
  if (!changed.ok()) {
    std::string id = key + "@deleted";
    for (const state::StoredRecord& r : records) {
      if (r.key == key) id = absl::StrCat(key, "@", r.revision);
    }
    sync::MutexLock lock(&refused_mu_);
    if (refused_ca_ == id) return;  // this record was refused already
    refused_ca_ = id;
    metrics_.OnCaReloadFailure(key);
    log::LogEvent(log::Level::kError, "control",
                  "shared CA record refused; the CA this replica holds stays",
                  {{"key", key}, {"error", std::string(changed.status().message())}});
    return;
  }
  if (!*changed) return;
  {
    sync::MutexLock lock(&refused_mu_);
    refused_ca_.clear();
  }
  const std::string root = ca_->ActiveRootFingerprint();
  sync::MutexLock lock(&mu_);
  if (stopping_) return;
  // A root added, activated or retired through another replica reaches this
  // replica's proxies now; a new issuing root also asks them to re-key.
  AfterBundleChange();
  if (root != root_before) service_->RequestRekey("root_rollover");
  log::LogEvent(log::Level::kInfo, "control", "shared CA record reloaded",
                {{"key", key},
                 {"root", root},
                 {"bundle_version", ca_->bundle_version()},
                 {"rekey", root != root_before}});
}

void ControlServer::OnSharedRevocations(const std::vector<state::StoredRecord>& records,
                                        int64_t revision) {
  const service::RevocationList::Changes changes =
      revocations_->ReplaceFromStore(records, revision);
  LogRefusedRecords("shared deny-list record refused", records, changes.errors,
                    &refused_revocations_);
  if (!changes.changed) return;
  const absl::Time now = absl::Now();
  // Renewals are refused here too, as on the replica that de-registered.
  for (const std::string& id : changes.added) (void)registry_->Deregister(id, now);
  for (const std::string& id : changes.removed) (void)registry_->Reregister(id);
  metrics_.SetDenyList(revocations_->Snapshot().entries.size());
  service_->PushDenyList();  // before the streams close: the proxies must have it first
  for (const std::string& id : changes.added) {
    const size_t closed = service_->CloseStreamsOf(id, "deregistered");
    log::LogEvent(log::Level::kInfo, "control", "revoked on another replica",
                  {{"spiffe_id", id}, {"streams_closed", closed}});
  }
}

std::string ControlServer::BundlePem() { return ca_->BundlePem(); }

nlohmann::json ControlServer::RolloverJson() {
  const ca::RolloverStatus& s = rollover_.status();
  return {{"phase", std::string(ca::PhaseName(s.phase))},
          {"started_at", Rfc3339(s.started_at)},
          {"phase_started_at", Rfc3339(s.phase_started_at)},
          {"target_bundle_version", s.target_bundle_version},
          {"new_root", s.new_root},
          {"old_roots", s.old_roots},
          {"waiting_on", s.waiting_on},
          {"timeouts_seconds",
           {{"propagating", absl::ToInt64Seconds(rollover_.timeouts().propagating)},
            {"rekeying", absl::ToInt64Seconds(rollover_.timeouts().rekeying)},
            {"retiring", absl::ToInt64Seconds(rollover_.timeouts().retiring)}}},
          {"history", s.history},
          {"history_entries", ca::RolloverHistoryToJson(s.history)}};
}

nlohmann::json ControlServer::RolloverState() {
  sync::MutexLock lock(&mu_);
  return RolloverJson();
}

nlohmann::json ControlServer::State() {
  const ca::Bundle bundle = ca_->CurrentBundle();
  const std::string active = ca_->ActiveRootFingerprint();
  nlohmann::json roots = nlohmann::json::array();
  for (size_t i = 0; i < bundle.roots.size(); ++i) {
    roots.push_back({{"fingerprint_sha256", bundle.fingerprints[i]},
                     {"not_after", Rfc3339(identity::NotAfter(bundle.roots[i].get()))},
                     {"issuing", bundle.fingerprints[i] == active}});
  }
  std::map<std::pair<std::string, std::string>, int> connected;
  const std::vector<service::StreamInfo> streams = service_->Streams();
  for (const service::StreamInfo& s : streams) {
    if (s.spiffe_id.has_value()) connected[{s.spiffe_id->ToString(), s.instance}]++;
  }
  nlohmann::json workloads = nlohmann::json::array();
  for (const service::WorkloadRecord& w : registry_->Workloads()) {
    const service::IssuedCertificate& c = w.latest;
    const bool is_connected = connected.count({c.spiffe_id, c.instance}) > 0;
    const bool deregistered = registry_->IsDeregistered(c.spiffe_id);
    // De-registered wins: its proxy may still hold a stream until it ends.
    const char* status = deregistered ? "deregistered" : is_connected ? "connected" : "away";
    workloads.push_back({{"spiffe_id", c.spiffe_id},
                         {"instance", c.instance},
                         {"status", status},
                         {"connected", is_connected},
                         {"serial", c.serial},
                         {"not_before", Rfc3339(c.not_before)},
                         {"not_after", Rfc3339(c.not_after)},
                         {"issued_at", Rfc3339(c.issued_at)},
                         {"root_fingerprint", c.root_fingerprint},
                         {"renewals", w.renewals},
                         {"deregistered", deregistered}});
  }
  const state::RevocationState revocation_state = revocations_->Snapshot();
  nlohmann::json revocations = nlohmann::json::array();
  for (const state::RevocationRecord& r : revocation_state.entries) {
    revocations.push_back({{"spiffe_id", r.spiffe_id},
                           {"reason", r.reason},
                           {"revoked_at", Rfc3339(r.revoked_at)},
                           {"expires_at", Rfc3339(r.expires_at)}});
  }
  nlohmann::json events = nlohmann::json::array();
  for (const service::AuditEvent& e : audit_->Recent())
    events.push_back(service::AuditEventToJson(e));
  nlohmann::json issuances = nlohmann::json::array();
  for (const service::AuditEvent& e : audit_->RecentIssuances()) {
    issuances.push_back(service::AuditEventToJson(e));
  }
  nlohmann::json refusals = nlohmann::json::array();
  for (const service::RefusalCount& r : audit_->Refusals()) {
    refusals.push_back({{"spiffe_id", r.spiffe_id},
                        {"reason", r.reason},
                        {"count", r.count},
                        {"first", Rfc3339(r.first)},
                        {"last", Rfc3339(r.last)}});
  }
  nlohmann::json state = {{"now", Rfc3339(absl::Now())},
                          {"trust_domain", options_.trust_domain},
                          {"ca", ca_->self_managed() ? "self_managed" : "plugin"},
                          {"bundle", {{"version", bundle.version}, {"roots", roots}}},
                          {"streams", {{"connected", streams.size()}}},
                          {"workloads", workloads},
                          {"deregistered", registry_->Deregistered()},
                          {"revocations", revocations},
                          {"deny_list_version", revocation_state.version},
                          {"recent_events", events},
                          {"recent_issuances", issuances},
                          {"refusals", refusals},
                          // Foreign trust domains; "bundle" above is this
                          // domain's own, as the admin /bundle serves it.
                          {"federation", FederationJson()}};
  state["leadership"] =
      coordination_ != nullptr
          ? coordination_->Json()
          : nlohmann::json{{"replica_id", ""}, {"role", "single"}, {"leader", ""}};
  sync::MutexLock lock(&mu_);
  state["rollover"] = RolloverJson();
  state["serving_svid"] = {
      {"spiffe_id", absl::StrCat("spiffe://", options_.trust_domain, "/palisade/control")},
      {"serial", serving_serial_},
      {"not_after", Rfc3339(serving_not_after_)}};
  return state;
}

absl::StatusOr<nlohmann::json> ControlServer::CreateJoinToken(const std::string& spiffe_id,
                                                              absl::Duration ttl, bool single_use) {
  ASSIGN_OR_RETURN(identity::SpiffeId id, identity::SpiffeId::Parse(spiffe_id));
  if (!id.IsMemberOf(options_.trust_domain)) {
    return absl::InvalidArgumentError(
        absl::StrCat(spiffe_id, " is not in trust domain ", options_.trust_domain));
  }
  ASSIGN_OR_RETURN(auth::JoinTokenStore::Created created,
                   tokens_->Create(id, ttl, single_use, absl::Now()));
  log::LogEvent(log::Level::kInfo, "control", "join token created",
                {{"id", created.info.id}, {"spiffe_id", spiffe_id}, {"single_use", single_use}});
  return nlohmann::json{{"token", created.token},
                        {"id", created.info.id},
                        {"spiffe_id", spiffe_id},
                        {"single_use", single_use},
                        {"expires_at", Rfc3339(created.info.expires_at)}};
}

nlohmann::json ControlServer::ListJoinTokens() {
  nlohmann::json out = nlohmann::json::array();
  for (const auth::JoinToken& t : tokens_->List()) {
    nlohmann::json entry = {{"id", t.id},
                            {"kind", auth::TokenKindName(t.kind)},
                            {"spiffe_id", t.spiffe_id},
                            {"single_use", t.single_use},
                            {"created_at", Rfc3339(t.created_at)},
                            {"expires_at", Rfc3339(t.expires_at)},
                            {"revoked", t.revoked},
                            {"uses", t.uses}};
    if (!t.parent_id.empty()) entry["parent_id"] = t.parent_id;
    out.push_back(std::move(entry));
  }
  return out;
}

absl::StatusOr<nlohmann::json> ControlServer::RevokeJoinToken(const std::string& id) {
  ASSIGN_OR_RETURN(auth::JoinToken token, tokens_->Revoke(id));
  // A join token's re-attestation tokens were revoked with it.
  const std::vector<std::string> descendants = tokens_->DescendantsOf(token.id);
  size_t closed = service_->CloseStreamsOfToken(token.id, "token_revoked");
  for (const std::string& d : descendants)
    closed += service_->CloseStreamsOfToken(d, "token_revoked");
  log::LogEvent(
      log::Level::kInfo, "control",
      token.kind == auth::TokenKind::kJoin ? "join token revoked" : "re-attestation token revoked",
      {{"id", token.id},
       {"reattestation_tokens_revoked", descendants.size()},
       {"streams_closed", closed}});
  nlohmann::json answer = {{"id", token.id},
                           {"kind", auth::TokenKindName(token.kind)},
                           {"spiffe_id", token.spiffe_id},
                           {"revoked", true},
                           {"streams_closed", closed}};
  if (!descendants.empty()) answer["reattestation_tokens_revoked"] = descendants;
  return answer;
}

absl::StatusOr<nlohmann::json> ControlServer::Deregister(const std::string& spiffe_id) {
  ASSIGN_OR_RETURN(identity::SpiffeId id, identity::SpiffeId::Parse(spiffe_id));
  const absl::Time now = absl::Now();
  // Renewals are refused from here on, so the certificates the registry
  // knows are all there will be (a CSR already past this check extends the
  // entry when it records its certificate).
  bool changed = false;
  absl::Time revoked_until;
  if (shared_ != nullptr) {
    // Cluster-wide first: refused (store_unavailable) when it cannot be, and
    // then nothing changed here either.
    ASSIGN_OR_RETURN(revoked_until, Revoke(id.ToString(), now));
    ASSIGN_OR_RETURN(changed, registry_->Deregister(id.ToString(), now));
  } else {
    ASSIGN_OR_RETURN(changed, registry_->Deregister(id.ToString(), now));
    ASSIGN_OR_RETURN(revoked_until, Revoke(id.ToString(), now));
  }
  // Pushed before the streams close: the proxies must have it first.
  service_->PushDenyList();
  const size_t closed = service_->CloseStreamsOf(id.ToString(), "deregistered");
  log::LogEvent(log::Level::kInfo, "control", "workload de-registered and revoked",
                {{"spiffe_id", id.ToString()},
                 {"streams_closed", closed},
                 {"revoked_until", Rfc3339(revoked_until)}});
  service::AuditEvent event;
  event.time = now;
  event.event = "revoked";
  event.spiffe_id = id.ToString();
  event.not_after = revoked_until;
  event.result = "OK";
  event.reason = "deregistered";
  event.detail = absl::StrCat("on the deny-list until ", Rfc3339(revoked_until));
  event.peer = "admin";
  audit_->Record(event);
  return nlohmann::json{{"spiffe_id", id.ToString()},
                        {"deregistered", true},
                        {"already", !changed},
                        {"streams_closed", closed},
                        {"revoked_until", Rfc3339(revoked_until)}};
}

absl::StatusOr<absl::Time> ControlServer::Revoke(const std::string& spiffe_id, absl::Time now) {
  // The latest notAfter the registry remembers; when it remembers none (its
  // records of the last seconds before a crash are lost), the longest a
  // certificate issued until now can live. With a shared store the registry
  // knows only this replica's certificates, and another replica may have
  // issued a later one, so never less than that longest life either.
  const absl::Time longest = now + options_.svid_ttl + options_.clock_skew;
  const std::optional<absl::Time> latest = registry_->LatestNotAfter(spiffe_id);
  absl::Time until = latest.has_value() ? *latest : longest;
  if (shared_ != nullptr) until = std::max(until, longest);
  RETURN_IF_ERROR(revocations_->Revoke(spiffe_id, until, "deregistered", now).status());
  metrics_.SetDenyList(revocations_->Snapshot().entries.size());
  for (const state::RevocationRecord& r : revocations_->Snapshot().entries) {
    if (r.spiffe_id == spiffe_id) return r.expires_at;
  }
  return until;
}

absl::StatusOr<nlohmann::json> ControlServer::Reregister(const std::string& spiffe_id) {
  ASSIGN_OR_RETURN(identity::SpiffeId id, identity::SpiffeId::Parse(spiffe_id));
  bool unrevoked = false;
  if (shared_ != nullptr) {  // cluster-wide first, as Deregister
    ASSIGN_OR_RETURN(unrevoked, revocations_->Remove(id.ToString()));
    RETURN_IF_ERROR(registry_->Reregister(id.ToString()).status());
  } else {
    RETURN_IF_ERROR(registry_->Reregister(id.ToString()).status());
    ASSIGN_OR_RETURN(unrevoked, revocations_->Remove(id.ToString()));
  }
  if (unrevoked) {
    metrics_.SetDenyList(revocations_->Snapshot().entries.size());
    service_->PushDenyList();
  }
  return nlohmann::json{{"spiffe_id", id.ToString()}, {"deregistered", false}};
}

absl::StatusOr<nlohmann::json> ControlServer::StartRollover() {
  // Through any replica: it writes the start (compare-and-swap on the
  // status it read); the leader takes it up on its next tick.
  std::optional<StoredRollover> stored;
  if (coordination_ != nullptr) {
    ASSIGN_OR_RETURN(stored, coordination_->LoadRollover());
  }
  sync::MutexLock lock(&mu_);
  if (stored.has_value()) AdoptStoredRollover(*stored, coordination_->IsLeader());
  if (rollover_.status().phase != ca::RolloverPhase::kIdle) {
    return rollover_.Start(absl::Now(), 0, "", {});  // the "already under way" error
  }
  if (!ca_->self_managed()) {
    return absl::FailedPreconditionError(
        "root rollover needs a self-managed CA; a plug-in CA's roots belong to its operator");
  }
  const std::vector<std::string> old_roots = ca_->CurrentBundle().fingerprints;
  ASSIGN_OR_RETURN(std::string new_root, ca_->AddNextRoot(absl::Now()));
  std::vector<std::string> retiring;
  for (const std::string& f : old_roots) {
    if (f != new_root) retiring.push_back(f);
  }
  const ca::RolloverStatus before = rollover_.status();
  RETURN_IF_ERROR(rollover_.Start(absl::Now(), ca_->bundle_version(), new_root, retiring));
  if (absl::Status s = SaveRollover(); !s.ok()) {
    rollover_.Restore(before);
    return s;
  }
  AfterBundleChange();
  log::LogEvent(log::Level::kInfo, "control", "root rollover started",
                {{"new_root", new_root}, {"bundle_version", ca_->bundle_version()}});
  return RolloverJson();
}

ControlServer::ReplicaTick ControlServer::CoordinateReplicas(std::vector<ca::ProxyView> own) {
  ReplicaTick out;
  if (coordination_ == nullptr) {
    out.fleet = std::move(own);
    return out;
  }
  coordination_->PublishIfDue(own, absl::Now());
  out.lead = coordination_->IsLeader();
  std::string problem;
  if (absl::StatusOr<StoredRollover> stored = coordination_->LoadRollover(); stored.ok()) {
    out.stored = *std::move(stored);
  } else {
    problem = std::string(stored.status().message());
    out.lead = false;  // no step on a status we could not read
  }
  if (out.lead) {
    absl::StatusOr<std::vector<ca::ProxyView>> fleet = coordination_->ClusterFleet(own);
    if (fleet.ok()) {
      out.fleet = *std::move(fleet);
    } else {
      problem = std::string(fleet.status().message());
      out.lead = false;  // "every proxy is done" needs every replica's view
    }
  }
  if (out.fleet.empty()) out.fleet = std::move(own);
  if (problem != coordination_problem_) {
    coordination_problem_ = problem;
    if (!problem.empty()) {
      log::LogEvent(log::Level::kWarn, "control",
                    "cannot read the replicas' rollover state; no rollover step meanwhile",
                    {{"error", problem}});
    }
  }
  return out;
}

void ControlServer::AdoptStoredRollover(const StoredRollover& stored, bool lead) {
  if (stored.revision == 0 || stored.revision == rollover_revision_) return;
  rollover_revision_ = stored.revision;
  stored_waiting_on_ = stored.status.waiting_on;
  const std::string active_before = ca_->ActiveRootFingerprint();
  rollover_.Restore(stored.status);
  // A leader resuming past propagating issues under the new root, as a
  // restart from the state directory does.
  if (lead &&
      (stored.status.phase == ca::RolloverPhase::kRekeying ||
       stored.status.phase == ca::RolloverPhase::kRetiring) &&
      active_before != stored.status.new_root) {
    if (absl::Status s = ca_->ActivateNewest(); !s.ok()) {
      log::LogEvent(log::Level::kError, "control", "cannot resume the rollover's new root",
                    {{"error", std::string(s.message())}});
    } else {
      AfterBundleChange();
    }
  }
}

}  // namespace palisade::control::server
