// palisade-proxy: the one place where the data plane's pieces meet.
//
//   palisade-proxy --config=proxy.yaml [--admin_address_file=PATH]
//   palisade-proxy --config=proxy.yaml --validate
//   palisade-proxy --version
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "identity/spiffe_id.h"
#include "proxy/access_log/access_log.h"
#include "proxy/admin/proxy_admin.h"
#include "proxy/config/config_defaults.h"
#include "proxy/config/config_loader.h"
#include "proxy/credentials/credential_store.h"
#include "proxy/credentials/file_source.h"
#include "proxy/credentials/identity_source.h"
#include "proxy/forward/fan_out_observer.h"
#include "proxy/gateway/gateway_watchers.h"
#include "proxy/identity_client/bootstrap_credential.h"
#include "proxy/identity_client/control_plane_source.h"
#include "proxy/metrics/proxy_metrics.h"
#include "proxy/reload/config_reloader.h"
#include "proxy/server/proxy_server.h"
#include "runtime/cli/flag_help.h"
#include "runtime/http/http_server.h"
#include "runtime/log/logging.h"
#include "runtime/sync/mutex.h"
#include "runtime/version.h"

ABSL_FLAG(std::string, config, "", "Path of the proxy's YAML configuration (required).");
ABSL_FLAG(bool, validate, false,
          "Check the configuration (and, for file identity, the credential files) and exit.");
ABSL_FLAG(std::string, admin_address_file, "",
          "Write the admin server's bound address (ip:port) here once it is up; useful with "
          "admin.address port 0. Refused with admin.enabled: false.");

namespace palisade {
namespace {

namespace v1 = config::v1;

credentials::CredentialStore::Options StoreOptions(const v1::ProxyConfig& config) {
  credentials::CredentialStore::Options options;
  if (!config.identity().spiffe_id().empty()) {
    options.expected_id = *identity::SpiffeId::Parse(config.identity().spiffe_id());
  }
  options.tls.min_version = config.tls().min_version() == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  options.tls.session_resumption =
      !config.tls().has_session_resumption() || config.tls().session_resumption();
  options.ticket_key_rotation =
      config::DurationOr(config.tls().has_ticket_key_rotation(), config.tls().ticket_key_rotation(),
                         config::kDefaultTicketKeyRotation);
  return options;
}

// --validate: the config, and for file identity whether the files make a
// usable credential right now.
int Validate(const v1::ProxyConfig& config, const std::string& path) {
  if (config.identity().has_files()) {
    auto material = credentials::LoadCredentialFiles(config.identity().files());
    if (!material.ok()) {
      std::cerr << "palisade-proxy: " << path << ": identity.files: " << material.status().message()
                << "\n";
      return 2;
    }
    credentials::SnapshotOptions options;
    options.now = absl::Now();
    options.expected_id = StoreOptions(config).expected_id;
    auto snapshot = credentials::BuildSnapshot(*std::move(material), options, nullptr);
    if (!snapshot.ok()) {
      std::cerr << "palisade-proxy: " << path << ": identity.files: " << snapshot.status().message()
                << "\n";
      return 2;
    }
    std::cout << "identity: " << (*snapshot)->spiffe_id.ToString() << ", serial "
              << (*snapshot)->serial << ", expires "
              << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", (*snapshot)->not_after, absl::UTCTimeZone())
              << "\n";
  }
  if (config.identity().has_control_plane()) {
    const v1::ControlPlaneIdentitySource& cp = config.identity().control_plane();
    auto bundle = identity_client::LoadBootstrapBundle(cp);
    auto id = identity_client::ResolveWorkloadId(config.identity().spiffe_id(), cp);
    const absl::Status problem = !bundle.ok() ? bundle.status() : id.status();
    if (!problem.ok()) {
      std::cerr << "palisade-proxy: " << path << ": identity.control_plane: " << problem.message()
                << "\n";
      return 2;
    }
    std::cout << "identity: " << id->ToString() << " from the control plane at " << cp.address()
              << " (" << cp.server_spiffe_id() << ", " << bundle->root_count()
              << " bootstrap root(s))\n";
  }
  // Gateway listeners: their trust store and CRLs load now, and an allow
  // list that admits nobody is said out loud (deny by default).
  for (int i = 0; i < config.inbound_size(); ++i) {
    const v1::InboundListener& in = config.inbound(i);
    if (!in.has_gateway()) continue;
    absl::StatusOr<forward::GatewayContext> gateway = server::GatewayOf(in.gateway());
    if (!gateway.ok()) {
      std::cerr << "palisade-proxy: " << path << ": inbound[" << i
                << "]: " << gateway.status().message() << "\n";
      return 2;
    }
    std::cout << "gateway " << in.name() << ": " << gateway->trust->root_count()
              << " CA certificate(s), " << gateway->trust->crl_count() << " CRL(s), identity from "
              << identity::IdentityFromName(gateway->identity_from) << ", allows "
              << gateway->policy.Describe() << "\n";
    if (gateway->policy.empty()) {
      std::cout << "warning: inbound[" << i << "].gateway.allow has no rule: listener " << in.name()
                << " refuses every client (deny by default)\n";
    }
  }
  std::cout << path << ": configuration is valid (" << config.inbound_size() << " inbound, "
            << config.outbound_size() << " outbound listener(s))\n";
  return 0;
}

int Run(const v1::ProxyConfig& config, const std::string& path) {
  // Signals are taken by sigwait in this thread; every thread started below
  // inherits the mask, so none of them is interrupted by them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Every proxied connection holds two descriptors; the common soft limit of
  // 1024 would cap a proxy near 500 connections.
  rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  log::LogOptions log_options;
  log_options.level = config.logging().level();
  log_options.format = config.logging().format();
  log_options.access_log = !config.logging().has_access_log() || config.logging().access_log();
  if (absl::Status s = log::InitLogging(log_options); !s.ok()) {
    std::cerr << "palisade-proxy: logging: " << s.message() << "\n";
    return 2;
  }
  metrics::ProxyMetrics metrics(config.metrics().max_peer_identities() > 0
                                    ? config.metrics().max_peer_identities()
                                    : config::kDefaultMaxPeerIdentities);
  access_log::AccessLog::Options access_log_options;
  access_log_options.on_suppressed = [&metrics](const forward::ListenerContext& listener,
                                                const std::string& reason) {
    metrics.OnAccessLogSuppressed(listener, reason);
  };
  access_log::AccessLog access_log(std::move(access_log_options));
  forward::FanOutObserver observers = config.metrics().enabled()
                                          ? forward::FanOutObserver({&metrics, &access_log})
                                          : forward::FanOutObserver({&access_log});

  credentials::CredentialStore store(StoreOptions(config));
  store.Subscribe([&metrics](const credentials::CredentialStore::Snapshot& snapshot) {
    metrics.OnSnapshot(*snapshot);
    log::Log(log::Level::kInfo, "identity installed",
             {{"spiffe_id", snapshot->spiffe_id.ToString()},
              {"serial", snapshot->serial},
              {"not_after", absl::FormatTime(snapshot->not_after)},
              {"source", snapshot->source}});
  });

  absl::StatusOr<std::unique_ptr<server::ProxyServer>> server =
      server::ProxyServer::Create(config, &store, &observers);
  if (!server.ok()) {
    log::Log(log::Level::kError, "cannot set up listeners",
             {{"error", std::string(server.status().message())}});
    return 1;
  }

  // SIGHUP and POST /reload: the whole file (proxy/reload). Before the
  // admin servers, which may call it until they are destroyed.
  gateway::GatewayWatchers gateway_watchers(server->get(),
                                            config.metrics().enabled() ? &metrics : nullptr);
  reload::ConfigReloader reloader(
      path, server->get(), &metrics, config.metrics().enabled(),
      [&gateway_watchers](const v1::ProxyConfig& running) {
        if (absl::Status s = gateway_watchers.Follow(running); !s.ok()) {
          log::Log(log::Level::kError, "gateway trust files not watched after the reload",
                   {{"error", std::string(s.message())}});
        }
      });

  // The admin ports are bound before any listener: a proxy that cannot serve
  // /ready and /drain exits without having taken (and dropped) a connection.
  // Until the listeners are up, /ready says so. Each admin server takes at
  // most 1/32 of the descriptors (or 64): a flood on an admin port never
  // takes what the data plane needs.
  const auto admin_limits = [&metrics](const std::string& name) {
    http::ConnectionLimits limits;
    limits.name = name;
    limits.observer = [&metrics, name](http::ConnectionEvent e) {
      if (e == http::ConnectionEvent::kCapReached) {
        metrics.OnAdminCapReached(name);
      } else {
        metrics.OnAdminRequestDeadlineClosed(name);
      }
    };
    return limits;
  };
  http::HttpServer http(admin_limits("admin"));
  admin::ProxyAdminSources sources;
  sources.metrics = &metrics;
  sources.store = &store;
  sources.server = server->get();
  sources.config = &config;
  sources.reload = [&reloader] { return reload::ToHttpResponse(reloader.Reload("POST /reload")); };
  sources.begin_drain = [&server] {
    log::Log(log::Level::kInfo, "drain requested through the admin endpoint; exiting once drained",
             {{"drain_timeout", absl::FormatDuration((*server)->DrainTimeout())}});
    (*server)->BeginDrain();
  };
  // admin.enabled: false (validated: no address, no public_address) binds
  // no admin port at all.
  const bool admin_enabled = config.admin().enabled();
  if (admin_enabled) {
    admin::InstallProxyAdminRoutes(&http, sources);
    auto admin_address = net::SocketAddress::Parse(config.admin().address());
    if (absl::Status s = http.Start(*admin_address); !s.ok()) {
      log::Log(log::Level::kError, "cannot start the admin server",
               {{"error", absl::StrCat("admin.address: ", s.message())}});
      return 1;
    }
    log::Log(log::Level::kInfo, "admin server up",
             {{"address", http.address().ToString()}, {"max_connections", http.max_connections()}});
  } else {
    log::Log(log::Level::kInfo, "admin server disabled (admin.enabled: false)");
  }
  http::HttpServer public_http(admin_limits("public"));
  if (admin_enabled && !config.admin().public_address().empty()) {
    admin::InstallPublicRoutes(&public_http, sources);
    auto public_address = net::SocketAddress::Parse(config.admin().public_address());
    if (absl::Status s = public_http.Start(*public_address); !s.ok()) {
      log::Log(log::Level::kError, "cannot start the public health/metrics server",
               {{"error", absl::StrCat("admin.public_address: ", s.message())}});
      return 1;
    }
    log::Log(log::Level::kInfo, "health and metrics server up",
             {{"address", public_http.address().ToString()}});
  }

  if (absl::Status s = (*server)->Start(); !s.ok()) {
    log::Log(log::Level::kError, "cannot start listeners", {{"error", std::string(s.message())}});
    return 1;
  }
  for (const auto& l : (*server)->listeners()) {
    if (config.metrics().enabled()) metrics.AddListener(l.name, l.direction);
    log::Log(log::Level::kInfo, "listening",
             {{"listener", l.name},
              {"direction", forward::DirectionName(l.direction)},
              {"address", l.address.ToString()}});
  }

  // Gateway listeners' trust stores and CRLs, reloaded on change; a file
  // that does not load keeps the running store. A reload re-follows them.
  if (absl::Status watching = gateway_watchers.Follow(config); !watching.ok()) {
    log::Log(log::Level::kError, "cannot watch gateway trust files",
             {{"error", std::string(watching.message())}});
    return 1;
  }

  std::unique_ptr<credentials::IdentitySource> identity_source;
  if (config.identity().has_files()) {
    auto source = credentials::FileSource::Start(
        config.identity().files(), &store, [&metrics](const absl::Status& status) {
          if (status.ok()) return;
          metrics.OnIdentityUpdateRejected("files");
          log::Log(log::Level::kWarn, "identity files refused; the running identity stays",
                   {{"error", std::string(status.message())}});
        });
    if (!source.ok()) {
      log::Log(log::Level::kError, "cannot watch identity files",
               {{"error", std::string(source.status().message())}});
      return 1;
    }
    identity_source = *std::move(source);
  } else {
    identity_client::ControlPlaneSource::Options options;
    options.config = config.identity().control_plane();
    options.spiffe_id = config.identity().spiffe_id();
    options.store = &store;
    options.metrics = &metrics;
    options.connections_by_root = [&server] { return (*server)->ConnectionsByRoot(); };
    options.version = kVersion;
    auto source = identity_client::ControlPlaneSource::Start(std::move(options));
    if (!source.ok()) {
      log::Log(log::Level::kError, "cannot start the control-plane identity source",
               {{"error", std::string(source.status().message())}});
      return 2;
    }
    identity_source = *std::move(source);
  }

  if (const std::string file = absl::GetFlag(FLAGS_admin_address_file);
      admin_enabled && !file.empty()) {
    const std::string tmp = file + ".tmp";
    std::ofstream out(tmp);
    out << http.address().ToString() << "\n";
    out.close();
    if (!out || std::rename(tmp.c_str(), file.c_str()) != 0) {
      log::Log(log::Level::kError, "cannot write --admin_address_file",
               {{"file", file}, {"error", std::strerror(errno)}});
      return 1;
    }
  }

  // Until SIGTERM/SIGINT, or a drain through the admin API: a drain cannot
  // be undone (the listeners are closed), so it ends like SIGTERM does, with
  // exit 0 once drained, and whatever supervises the proxy starts a new one.
  int signal_number = 0;
  const timespec tick = absl::ToTimespec(absl::Milliseconds(200));
  absl::Time reported = absl::Now();
  for (;;) {
    signal_number = sigtimedwait(&signals, nullptr, &tick);
    if (absl::Now() - reported >= absl::Seconds(1)) {
      access_log.ReportSuppressed();  // a flood that stopped is told too
      reported = absl::Now();
    }
    if (signal_number == SIGHUP) {
      reloader.Reload("SIGHUP");
    } else if (signal_number > 0 || (*server)->draining()) {
      break;
    }
  }
  log::Log(log::Level::kInfo, "draining before exit",
           {{"cause", signal_number > 0 ? strsignal(signal_number) : "POST /drain"}});
  (*server)->BeginDrain();
  const absl::Duration drain = (*server)->DrainTimeout();
  // A second signal cuts the drain short.
  const absl::Time deadline = absl::Now() + drain + absl::Seconds(2);
  while (!(*server)->WaitDrained(absl::Milliseconds(100)) && absl::Now() < deadline) {
    timespec zero{0, 0};
    const int again = sigtimedwait(&signals, nullptr, &zero);
    if (again == SIGTERM || again == SIGINT) break;
  }
  identity_source.reset();  // joins its threads; the store keeps the SVID
  gateway_watchers.Stop();  // joins the watchers before the workers stop
  (*server)->Stop();
  access_log.ReportSuppressed();
  log::Log(log::Level::kInfo, "stopped", {});
  return 0;
}

}  // namespace
}  // namespace palisade

constexpr char kUsage[] =
    "palisade-proxy: the Palisade service-mesh sidecar.\n"
    "  palisade-proxy --config=FILE [--admin_address_file=PATH]\n"
    "  palisade-proxy --config=FILE --validate\n"
    "  palisade-proxy --version";

int main(int argc, char** argv) {
  if (palisade::cli::HelpRequest(argc, argv).has_value()) {
    std::cout << kUsage << "\n\nFlags:\n"
              << palisade::cli::FormatFlags({"config", "validate", "admin_address_file", "version"})
              << "--helpfull adds Abseil's own flags.\n";
    return 0;
  }
  absl::SetProgramUsageMessage(kUsage);
  palisade::cli::ConfigureAbseilUsage(
      "proxy/main.cc", absl::StrCat("palisade-proxy ", palisade::kVersion, " (BoringSSL)"));
  absl::ParseCommandLine(argc, argv);
  const std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) {
    std::cerr << "palisade-proxy: --config=FILE is required (see --help)\n";
    return 2;
  }
  absl::StatusOr<palisade::config::v1::ProxyConfig> config =
      palisade::config::LoadProxyConfigFile(path);
  if (!config.ok()) {
    std::cerr << "palisade-proxy: " << config.status().message() << "\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_validate)) return palisade::Validate(*config, path);
  // Loaded configs have admin.enabled set by the defaults.
  if (!config->admin().enabled() && !absl::GetFlag(FLAGS_admin_address_file).empty()) {
    std::cerr << "palisade-proxy: --admin_address_file: " << path
              << ": admin.enabled is false, so there is no admin address to write; drop the "
                 "flag or set admin.enabled: true\n";
    return 2;
  }
  return palisade::Run(*config, path);
}
