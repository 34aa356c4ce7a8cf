// palisade-control: the reference control plane. One wiring point:
//
//   palisade-control serve --trust_domain=TD --state_dir=DIR [--listen=...] [--admin=...]
//   palisade-control token create --spiffe_id=ID [--ttl=1h] [--single_use=true]
//   palisade-control token revoke --id=jt-...|rt-... | token list
//   palisade-control deregister --spiffe_id=ID     | register --spiffe_id=ID
//   palisade-control rollover start                | rollover status
//   palisade-control status
//   palisade-control --version
//
// Every subcommand but serve talks to a running server's admin API (--admin).
#include <signal.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "control/admin/admin_api.h"
#include "control/admin/admin_client.h"
#include "control/admin/admin_token.h"
#include "control/federation/bundle_endpoint.h"
#include "control/federation/federation_config.h"
#include "control/inject/inject_command.h"
#include "control/server/control_server.h"
#include "control/state/etcd/etcd_client.h"
#include "control/state/etcd/etcd_tls_config.h"
#include "control/state/etcd/leader_lease.h"
#include "control/state/state_files.h"
#include "control/webhook/webhook_server.h"
#include "runtime/cli/flag_help.h"
#include "runtime/http/http_server.h"
#include "runtime/log/logging.h"
#include "runtime/status/status_macros.h"
#include "runtime/version.h"

ABSL_FLAG(std::string, trust_domain, "", "serve: the SPIFFE trust domain (required).");
ABSL_FLAG(std::string, state_dir, "",
          "serve: directory for the CA, tokens, workloads, audit log; other subcommands: where "
          "to read the admin credential (admin.token) from.");
ABSL_FLAG(std::string, listen, "0.0.0.0:15012", "serve: the identity port (TLS); port 0 allowed.");
ABSL_FLAG(std::string, admin, "127.0.0.1:15013",
          "The admin API address: where serve listens, and where the other subcommands connect.");
ABSL_FLAG(bool, admin_allow_non_loopback, false,
          "serve: allow a non-loopback --admin (the admin API is meant for this host).");
ABSL_FLAG(std::vector<std::string>, admin_host, {},
          "serve: further names the admin API answers to in a Host header (comma-separated); "
          "loopback addresses, localhost and the bound address always work.");
ABSL_FLAG(std::string, admin_token_file, "",
          "The admin credential: serve writes a fresh one here (0600) at every start, the other "
          "subcommands send it. Default: <--state_dir>/admin.token.");
ABSL_FLAG(absl::Duration, svid_ttl, absl::Hours(1),
          "serve: lifetime of issued SVIDs (e.g. 5s, 1h).");
ABSL_FLAG(absl::Duration, clock_skew, absl::Seconds(30),
          "serve: tolerated clock skew: SVIDs are backdated by it (at most 5m), tokens get it.");
ABSL_FLAG(absl::Duration, token_retention, absl::Hours(24 * 7),
          "serve: how long an expired token is kept (refused as expired, not unknown) before "
          "housekeeping forgets it, from the state directory or from etcd.");
ABSL_FLAG(absl::Duration, token_prune_interval, absl::Hours(1),
          "serve: how often housekeeping forgets expired tokens.");
ABSL_FLAG(absl::Duration, hello_timeout, absl::Seconds(10),
          "serve: time a stream has to send Hello.");
ABSL_FLAG(int64_t, max_connections, 0,
          "serve: identity-port connections held at once after their handshake (0 = what the "
          "descriptor limit allows).");
ABSL_FLAG(int64_t, svid_reserved_connections, 0,
          "serve: of --max_connections, how many only clients with a valid SVID may use, so "
          "renewals get through while anonymous (bootstrap) connections are many (0 = a "
          "quarter).");
ABSL_FLAG(int64_t, max_anonymous_connections_per_source, 0,
          "serve: identity-port connections without a client SVID from one IP address (0 = an "
          "eighth of --max_connections, at least 4).");
ABSL_FLAG(int64_t, max_pending_handshakes, 0,
          "serve: identity-port TLS handshakes in progress; when full the oldest is closed "
          "(0 = a quarter of the descriptor budget, at most 1024).");
ABSL_FLAG(int64_t, max_pending_handshakes_per_source, 64,
          "serve: identity-port TLS handshakes in progress from one IP address.");
ABSL_FLAG(absl::Duration, first_byte_timeout, absl::Seconds(10),
          "serve: an identity-port client that sends nothing this long after its TLS handshake "
          "is closed.");
ABSL_FLAG(absl::Duration, first_stream_timeout, absl::Seconds(30),
          "serve: an identity-port connection with no gRPC stream this long is closed.");
ABSL_FLAG(int64_t, tls_refusal_log_burst, 10,
          "serve: identity-port TLS refusals logged and audited per reason and interval; the "
          "rest are counted (palisade_control_tls_refusal_log_suppressed_total).");
ABSL_FLAG(absl::Duration, tls_refusal_log_interval, absl::Seconds(10),
          "serve: the interval of --tls_refusal_log_burst.");
ABSL_FLAG(absl::Duration, csr_timeout, absl::Seconds(30),
          "serve: time a bootstrap stream has to send its CSR after Hello.");
ABSL_FLAG(absl::Duration, reattestation_ttl, absl::Hours(720),
          "serve: a re-attestation token expires this long after its last use or the last SVID "
          "issued to its identity.");
ABSL_FLAG(int32_t, issuance_burst, 16,
          "serve: certificates one SPIFFE ID may get at once, before --issuance_per_ttl applies.");
ABSL_FLAG(int32_t, issuance_per_ttl, 64,
          "serve: certificates one SPIFFE ID may get per --svid_ttl, sustained (64: 32 proxies "
          "sharing the identity, each renewing at half-life); more are refused "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int32_t, issuance_max_unexpired, 128,
          "serve: unexpired certificates one SPIFFE ID may hold; at least --issuance_burst.");
ABSL_FLAG(std::string, jwks_file, "", "serve: JWKS of the Kubernetes service-account issuer.");
ABSL_FLAG(std::string, sa_issuer, "", "serve: required \"iss\" of service-account tokens.");
ABSL_FLAG(std::string, sa_audience, "", "serve: required \"aud\" of service-account tokens.");
ABSL_FLAG(bool, sa_issuer_discovery, false,
          "serve: fetch the service-account keys from --sa_issuer over HTTPS (its OpenID "
          "discovery document, then its jwks_uri) instead of --jwks_file, and keep them fresh.");
ABSL_FLAG(std::string, sa_issuer_ca_file, "",
          "serve: with --sa_issuer_discovery, the CA file (PEM) that verifies the issuer's "
          "server (in a pod: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt).");
ABSL_FLAG(std::string, sa_issuer_token_file, "",
          "serve: with --sa_issuer_discovery, a bearer token file sent to the issuer, re-read "
          "on each fetch (in a pod: /var/run/secrets/kubernetes.io/serviceaccount/token).");
ABSL_FLAG(absl::Duration, sa_jwks_refresh_interval, absl::Minutes(5),
          "serve: with --sa_issuer_discovery, how often the keys are fetched again.");
ABSL_FLAG(absl::Duration, sa_jwks_unknown_key_interval, absl::Seconds(10),
          "serve: with --sa_issuer_discovery, a token naming an unknown key fetches the keys "
          "again at most this often.");
ABSL_FLAG(absl::Duration, sa_issuer_timeout, absl::Seconds(10),
          "serve: with --sa_issuer_discovery, the longest one request to the issuer may take.");
ABSL_FLAG(std::string, plugin_ca_cert, "", "serve: plug-in CA: the signing intermediate (PEM).");
ABSL_FLAG(std::string, plugin_ca_key, "", "serve: plug-in CA: its private key (PEM).");
ABSL_FLAG(std::string, plugin_ca_chain, "", "serve: plug-in CA: intermediates above it (PEM).");
ABSL_FLAG(std::string, plugin_root_bundle, "", "serve: plug-in CA: the operator's root(s) (PEM).");
ABSL_FLAG(absl::Duration, rollover_propagating_timeout, absl::Minutes(10),
          "serve: longest wait for bundle acknowledgements in a root rollover.");
ABSL_FLAG(absl::Duration, rollover_rekeying_timeout, absl::Minutes(30),
          "serve: longest wait for proxies to hold a leaf from the new root.");
ABSL_FLAG(absl::Duration, rollover_retiring_timeout, absl::Hours(1),
          "serve: longest wait for connections on the old root to end.");
ABSL_FLAG(std::string, federation_file, "",
          "serve: YAML listing the foreign trust domains to federate with: per domain "
          "trust_domain, bundle_endpoint_url (https), profile (https_spiffe: "
          "endpoint_spiffe_id and initial_bundle_file, PEM or SPIFFE bundle JSON; https_web: "
          "ca_file). Their bundles go to every proxy beside this domain's (control/README.md).");
ABSL_FLAG(absl::Duration, federation_min_refresh, absl::Seconds(30),
          "serve: a federated bundle is fetched at most this often (its spiffe_refresh_hint "
          "is raised to it; the first retry after a failure waits this long); at least 1s.");
ABSL_FLAG(absl::Duration, federation_max_refresh, absl::Hours(1),
          "serve: a federated bundle is fetched at least this often (without a "
          "spiffe_refresh_hint: this often; failure backoff stops here).");
ABSL_FLAG(std::string, store, "file",
          "serve: where join tokens, the deny-list and a self-managed CA live: file (the state "
          "directory; one replica) or etcd (shared by replicas, --etcd_endpoints, "
          "--ca_kek_file).");
ABSL_FLAG(std::string, etcd_endpoints, "",
          "serve: with --store=etcd, the etcd members as host:port,host:port (plaintext gRPC, "
          "for loopback or a trusted network, unless --etcd_ca_file turns TLS on).");
ABSL_FLAG(std::string, etcd_ca_file, "",
          "serve: with --store=etcd, turns TLS to etcd on: PEM CA certificate(s) that etcd's "
          "serving certificate must chain to (it must also name the endpoint's host, or "
          "--etcd_server_name).");
ABSL_FLAG(std::string, etcd_cert_file, "",
          "serve: with --etcd_ca_file, the client certificate (PEM chain) presented to etcd "
          "(for etcd's client certificate authentication); with --etcd_key_file.");
ABSL_FLAG(std::string, etcd_key_file, "",
          "serve: with --etcd_cert_file, its private key (PEM; mode 0400 or 0600).");
ABSL_FLAG(std::string, etcd_server_name, "",
          "serve: with --etcd_ca_file, the name etcd's certificate must carry (default: each "
          "endpoint's host; an IP literal is checked against IP SANs).");
ABSL_FLAG(std::string, etcd_prefix, "",
          "serve: with --store=etcd, the key prefix (default /palisade/<trust_domain>/).");
ABSL_FLAG(std::string, ca_kek_file, "",
          "serve: with --store=etcd and a self-managed CA (required then): the key-encryption "
          "key its private keys are sealed with in etcd: 32 random bytes, raw or base64 "
          "(head -c 32 /dev/urandom > FILE); mode 0400 or 0600, every replica the same.");
ABSL_FLAG(absl::Duration, leader_lease_ttl, absl::Seconds(10),
          "serve: with --store=etcd, the TTL of the etcd lease a replica leads with (whole "
          "seconds, 2s to 5m): a dead leader is replaced after about this long.");
ABSL_FLAG(std::string, replica_id, "",
          "serve: with --store=etcd, this replica's name among the replicas (A-Za-z0-9._-, "
          "unique per live replica; default <host name>-<pid>; in Kubernetes the pod name).");
ABSL_FLAG(std::string, renewals_without_store, "serve",
          "serve: with --store=etcd, renewals of registered identities while etcd cannot be "
          "reached: serve (from the CA this replica holds) or refuse (store_unavailable).");
ABSL_FLAG(std::string, admin_address_file, "", "serve: write the bound admin address here.");
ABSL_FLAG(std::string, public_listen, "",
          "serve: also serve only /healthz, /ready and /metrics here (e.g. 0.0.0.0:15014 for "
          "probes and Prometheus); the admin API stays on --admin.");
ABSL_FLAG(std::string, webhook_listen, "",
          "serve: the mutating admission webhook (POST /inject, HTTPS) on this address.");
ABSL_FLAG(std::string, webhook_tls_cert, "", "serve: the webhook's certificate chain (PEM).");
ABSL_FLAG(std::string, webhook_tls_key, "", "serve: the webhook's private key (PEM).");
ABSL_FLAG(std::string, bundle_endpoint_listen, "",
          "serve: the SPIFFE bundle endpoint (HTTPS, GET /: this trust domain's bundle as a SPIFFE "
          "bundle document, for other trust domains to federate with); empty = off; port 0 "
          "allowed. Profile https_spiffe (the control plane's own SVID) unless "
          "--bundle_endpoint_tls_cert is given (https_web).");
ABSL_FLAG(std::string, bundle_endpoint_address_file, "",
          "serve: write the bound bundle endpoint address here.");
ABSL_FLAG(absl::Duration, bundle_endpoint_refresh_hint, absl::Minutes(5),
          "serve: the spiffe_refresh_hint the bundle endpoint advertises (1s to 168h).");
ABSL_FLAG(std::string, bundle_endpoint_tls_cert, "",
          "serve: profile https_web: the bundle endpoint's certificate chain (PEM, a web PKI "
          "certificate), read at start.");
ABSL_FLAG(std::string, bundle_endpoint_tls_key, "",
          "serve: profile https_web: the bundle endpoint's private key (PEM).");
ABSL_FLAG(std::string, inject_proxy_image, "",
          "serve: the proxy image the webhook injects (default: the injector's).");
ABSL_FLAG(std::string, listen_address_file, "", "serve: write the bound identity address here.");
ABSL_FLAG(absl::Duration, reload_interval, absl::Seconds(30),
          "serve: how often --jwks_file and the webhook's certificate files are checked for "
          "changes (SIGHUP checks at once).");
ABSL_FLAG(std::string, log_level, "info", "serve: trace, debug, info, warn or error.");
ABSL_FLAG(std::string, log_format, "text", "serve: text or json.");
ABSL_FLAG(std::string, spiffe_id, "", "token create, deregister, register: the SPIFFE ID.");
ABSL_FLAG(absl::Duration, ttl, absl::Hours(1), "token create: validity (0 = never expires).");
ABSL_FLAG(bool, single_use, true, "token create: the token issues one SVID only.");
ABSL_FLAG(std::string, id, "",
          "token revoke: the token id (jt-... or rt-...) or the token itself.");

namespace palisade::control {
namespace {

constexpr char kUsage[] =
    "palisade-control: the Palisade control plane (CA, workload identity, root rollover).\n"
    "  palisade-control serve --trust_domain=TD --state_dir=DIR [--listen=0.0.0.0:15012]\n"
    "      [--admin=127.0.0.1:15013] [--svid_ttl=1h] [--jwks_file=F --sa_issuer=I "
    "--sa_audience=A]\n"
    "      [--sa_issuer_discovery --sa_issuer=https://... --sa_issuer_ca_file=F "
    "[--sa_issuer_token_file=F] --sa_audience=A]\n"
    "      [--plugin_ca_cert=F --plugin_ca_key=F --plugin_root_bundle=F [--plugin_ca_chain=F]]\n"
    "      [--store=etcd --etcd_endpoints=H:P,... [--etcd_prefix=P] --ca_kek_file=F]\n"
    "      [--etcd_ca_file=F [--etcd_cert_file=F --etcd_key_file=F] [--etcd_server_name=N]]\n"
    "  The subcommands below call the admin API at --admin with its credential from\n"
    "  --state_dir=DIR (DIR/admin.token, as serve wrote it) or --admin_token_file=F.\n"
    "  palisade-control token create --spiffe_id=ID [--ttl=1h] [--single_use=true]\n"
    "  palisade-control token revoke --id=jt-...|rt-...   (a join token also revokes its "
    "re-attestation tokens)\n"
    "  palisade-control token list\n"
    "  palisade-control deregister --spiffe_id=ID\n"
    "  palisade-control register --spiffe_id=ID\n"
    "  palisade-control rollover start | rollover status\n"
    "  palisade-control status\n"
    "  palisade-control inject [injector flags] [FILE...]   (see palisade-control inject --help)\n"
    "  palisade-control --version\n"
    "  serve also takes --public_listen=ADDR (read-only /healthz /ready /metrics) and\n"
    "  --webhook_listen=ADDR --webhook_tls_cert=F --webhook_tls_key=F [--inject_proxy_image=I]\n"
    "  and --bundle_endpoint_listen=ADDR [--bundle_endpoint_refresh_hint=5m] (the SPIFFE bundle\n"
    "  endpoint, GET /; https_web with --bundle_endpoint_tls_cert=F --bundle_endpoint_tls_key=F)";

int UsageError(const std::string& message);

// Which flags each subcommand reads, for its --help. Every flag above is in
// at least one group (cli_help_test checks the listing against the parser).
// (Space-separated: a table reads better than one name a line.)
const std::vector<std::string>& ClientFlags() {
  static const auto* flags = new std::vector<std::string>{"admin", "state_dir", "admin_token_file"};
  return *flags;
}
const std::vector<std::string>& ServeFlags() {
  static const auto* flags = new std::vector<std::string>(absl::StrSplit(
      "trust_domain state_dir listen admin admin_allow_non_loopback admin_host "
      "admin_token_file admin_address_file listen_address_file public_listen "
      "svid_ttl clock_skew hello_timeout csr_timeout reattestation_ttl "
      "max_connections svid_reserved_connections "
      "max_anonymous_connections_per_source max_pending_handshakes "
      "max_pending_handshakes_per_source first_byte_timeout first_stream_timeout "
      "tls_refusal_log_burst tls_refusal_log_interval issuance_burst "
      "issuance_per_ttl issuance_max_unexpired jwks_file sa_issuer sa_audience "
      "sa_issuer_discovery sa_issuer_ca_file sa_issuer_token_file "
      "sa_jwks_refresh_interval sa_jwks_unknown_key_interval sa_issuer_timeout "
      "plugin_ca_cert plugin_ca_key plugin_ca_chain plugin_root_bundle "
      "rollover_propagating_timeout rollover_rekeying_timeout "
      "rollover_retiring_timeout webhook_listen webhook_tls_cert webhook_tls_key "
      "inject_proxy_image reload_interval log_level log_format bundle_endpoint_listen "
      "bundle_endpoint_address_file bundle_endpoint_refresh_hint "
      "bundle_endpoint_tls_cert bundle_endpoint_tls_key federation_file federation_min_refresh "
      "federation_max_refresh store etcd_endpoints etcd_prefix ca_kek_file token_retention "
      "etcd_ca_file etcd_cert_file etcd_key_file etcd_server_name "
      "token_prune_interval leader_lease_ttl replica_id renewals_without_store",
      ' '));
  return *flags;
}

struct Verb {
  const char* name;
  const char* summary;
  std::vector<std::string> flags;  // besides ClientFlags()
};
struct Subcommand {
  const char* name;
  const char* summary;
  std::vector<Verb> verbs;         // empty: the subcommand takes none
  std::vector<std::string> flags;  // without verbs: besides ClientFlags()
};

const std::vector<Subcommand>& Subcommands() {
  static const auto* subcommands = new std::vector<Subcommand>{
      {"serve", "run the control plane", {}, {}},
      {"token",
       "join tokens",
       {{"create",
         "issue a join token (the secret alone on stdout)",
         {"spiffe_id", "ttl", "single_use"}},
        {"revoke",
         "revoke a join or re-attestation token (a join token also its "
         "re-attestation tokens)",
         {"id"}},
        {"list", "list tokens", {}}},
       {}},
      {"register", "undo deregister for a SPIFFE ID", {}, {"spiffe_id"}},
      {"deregister",
       "refuse a SPIFFE ID's renewals, close its streams, and revoke it on every proxy",
       {},
       {"spiffe_id"}},
      {"rollover",
       "root CA rollover",
       {{"start", "begin a root rollover", {}}, {"status", "show the rollover's phase", {}}},
       {}},
      {"status", "the server's state", {}, {}},
  };
  return *subcommands;
}

const Subcommand* FindSubcommand(const std::string& name) {
  for (const Subcommand& s : Subcommands()) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

std::string VerbList(const Subcommand& sub) {
  std::string out;
  for (const Verb& v : sub.verbs) {
    absl::StrAppend(&out, "  palisade-control ", sub.name, " ", v.name, ": ", v.summary, "\n");
  }
  return out;
}

constexpr char kClientTitle[] =
    "Flags of every subcommand but serve (where the admin API is, its credential):\n";

// The flags `sub` (and `verb`, or all its verbs if null) take besides
// ClientFlags(), a group for each.
std::string OwnFlags(const Subcommand& sub, const Verb* verb) {
  std::string out;
  auto add = [&](const std::string& title, const std::vector<std::string>& flags) {
    if (!flags.empty()) absl::StrAppend(&out, "Flags of ", title, ":\n", cli::FormatFlags(flags));
  };
  add(sub.name, sub.flags);
  for (const Verb& v : sub.verbs) {
    if (verb == nullptr || verb == &v) add(absl::StrCat(sub.name, " ", v.name), v.flags);
  }
  return out;
}

// --help: everything, or one subcommand's (and verb's) flags. Exit 0, or 2
// for a subcommand that does not exist.
int PrintHelp(const std::vector<std::string>& words) {
  if (words.empty()) {
    std::cout << kUsage << "\n\nFlags of every invocation:\n"
              << cli::FormatFlags({"version"}) << "Flags of serve:\n"
              << cli::FormatFlags(ServeFlags()) << kClientTitle << cli::FormatFlags(ClientFlags());
    for (const Subcommand& sub : Subcommands()) std::cout << OwnFlags(sub, nullptr);
    std::cout << "\npalisade-control SUBCOMMAND [VERB] --help lists the flags of one "
                 "subcommand; --helpfull adds Abseil's own.\n";
    return 0;
  }
  if (words[0] == "inject") {
    std::cout << "palisade-control inject --help lists the injector's flags.\n";
    return 0;
  }
  const Subcommand* sub = FindSubcommand(words[0]);
  if (sub == nullptr) return UsageError(absl::StrCat("unknown subcommand \"", words[0], "\""));
  const Verb* verb = nullptr;
  if (words.size() > 1) {
    for (const Verb& v : sub->verbs) {
      if (words[1] == v.name) verb = &v;
    }
    if (verb == nullptr) {
      return UsageError(absl::StrCat("unknown subcommand \"", absl::StrJoin(words, " "), "\""));
    }
  }
  std::cout << "palisade-control " << sub->name << (verb ? absl::StrCat(" ", verb->name) : "")
            << ": " << (verb ? verb->summary : sub->summary) << "\n";
  if (verb == nullptr && !sub->verbs.empty()) std::cout << VerbList(*sub);
  if (std::string(sub->name) == "serve") {
    std::cout << "\nFlags of serve:\n" << cli::FormatFlags(ServeFlags());
  } else {
    std::cout << "\n" << kClientTitle << cli::FormatFlags(ClientFlags()) << OwnFlags(*sub, verb);
  }
  return 0;
}

// The first TLS-to-etcd flag given ("etcd_ca_file", ...), "" when none.
std::string FirstEtcdTlsFlagSet() {
  const std::pair<const char*, std::string> flags[] = {
      {"etcd_ca_file", absl::GetFlag(FLAGS_etcd_ca_file)},
      {"etcd_cert_file", absl::GetFlag(FLAGS_etcd_cert_file)},
      {"etcd_key_file", absl::GetFlag(FLAGS_etcd_key_file)},
      {"etcd_server_name", absl::GetFlag(FLAGS_etcd_server_name)}};
  for (const auto& [name, value] : flags) {
    if (!value.empty()) return name;
  }
  return "";
}

int UsageError(const std::string& message) {
  std::cerr << "palisade-control: " << message << "\n(see palisade-control --help)\n";
  return 2;
}

bool WriteAddressFile(const std::string& path, const std::string& address) {
  if (path.empty()) return true;
  return state::WriteFileAtomically(path, address + "\n", 0644).ok();
}

// Raises the descriptor limit to its hard maximum: each proxy stream holds
// three descriptors here (TLS, forwarder, gRPC's side).
void RaiseFileLimit() {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// Re-reads the files operators renew in place; each reload logs its outcome
// and a bad file never replaces a good one.
void ReloadFiles(server::ControlServer* server, webhook::WebhookServer* webhook,
                 bool jwks_configured) {
  if (jwks_configured) (void)server->ReloadJwks();  // logs and counts itself
  if (webhook == nullptr) return;
  absl::StatusOr<bool> changed = webhook->ReloadCertificate();
  if (!changed.ok()) {
    log::LogEvent(log::Level::kError, "control",
                  "webhook certificate not reloaded; the one in use stays",
                  {{"error", std::string(changed.status().message())}});
  } else if (*changed) {
    log::LogEvent(log::Level::kInfo, "control", "webhook certificate reloaded", {});
  }
}

// Blocks until SIGTERM or SIGINT and returns it; on SIGHUP and every
// `interval` runs `reload`.
template <typename Reload>
int WaitForStop(const sigset_t& signals, absl::Duration interval, Reload reload) {
  const timespec timeout = absl::ToTimespec(interval);
  for (;;) {
    const int signal_number = sigtimedwait(&signals, nullptr, &timeout);
    if (signal_number == SIGTERM || signal_number == SIGINT) return signal_number;
    if (signal_number == SIGHUP) {
      log::LogEvent(log::Level::kInfo, "control", "SIGHUP: reloading files", {});
      reload();
    } else if (signal_number < 0 && errno == EAGAIN) {
      reload();
    }
  }
}

// The SPIFFE bundle endpoint's flags, checked (files read) before the server
// writes anything; nullopt without --bundle_endpoint_listen.
absl::StatusOr<std::optional<federation::BundleEndpoint::Options>> BundleEndpointOptions() {
  federation::BundleEndpoint::Options options;
  options.trust_domain = absl::GetFlag(FLAGS_trust_domain);
  options.refresh_hint = absl::GetFlag(FLAGS_bundle_endpoint_refresh_hint);
  options.tls_certificate_file = absl::GetFlag(FLAGS_bundle_endpoint_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_bundle_endpoint_tls_key);
  const std::string listen = absl::GetFlag(FLAGS_bundle_endpoint_listen);
  if (listen.empty()) {
    if (!options.tls_certificate_file.empty() || !options.tls_key_file.empty()) {
      return absl::InvalidArgumentError(
          "--bundle_endpoint_tls_cert/--bundle_endpoint_tls_key need --bundle_endpoint_listen");
    }
    RETURN_IF_ERROR(federation::BundleEndpoint::Validate(options));
    return std::nullopt;
  }
  absl::StatusOr<net::SocketAddress> address = net::SocketAddress::Parse(listen);
  if (!address.ok()) {
    return absl::InvalidArgumentError("--bundle_endpoint_listen: " +
                                      std::string(address.status().message()));
  }
  options.listen = *address;
  RETURN_IF_ERROR(federation::BundleEndpoint::Validate(options));
  return options;
}

// The bundle endpoint, bound and fed by the server's renewals (it serves
// from the server's first on); null without options. The server's observer
// shares it, so it lives as long as the server may call it, whatever the
// order main's locals go in.
absl::StatusOr<std::shared_ptr<federation::BundleEndpoint>> CreateBundleEndpoint(
    std::optional<federation::BundleEndpoint::Options> options, server::ControlServer* server) {
  if (!options.has_value()) return nullptr;
  options->http_limits = server->AdminConnectionLimits("bundle_endpoint");
  ASSIGN_OR_RETURN(std::shared_ptr<federation::BundleEndpoint> endpoint,
                   federation::BundleEndpoint::Create(*std::move(options)));
  server->SetServingObserver([endpoint](const std::vector<X509*>& chain, EVP_PKEY* key,
                                        const std::vector<X509*>& roots, uint64_t version) {
    if (absl::Status s = endpoint->Update(chain, key, roots, version); !s.ok()) {
      log::LogEvent(log::Level::kError, "control", "bundle endpoint cannot take the new SVID",
                    {{"error", std::string(s.message())}});
    }
  });
  return endpoint;
}

int Serve() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  RaiseFileLimit();
  const absl::Duration reload_interval = absl::GetFlag(FLAGS_reload_interval);
  if (reload_interval <= absl::ZeroDuration()) {
    return UsageError("--reload_interval: must be more than zero");
  }
  if (absl::Status s =
          log::InitLogging(absl::GetFlag(FLAGS_log_level), absl::GetFlag(FLAGS_log_format));
      !s.ok()) {
    return UsageError(std::string(s.message()));
  }
  server::ControlServerOptions options;
  options.trust_domain = absl::GetFlag(FLAGS_trust_domain);
  options.state_dir = absl::GetFlag(FLAGS_state_dir);
  options.listen = absl::GetFlag(FLAGS_listen);
  options.store = absl::GetFlag(FLAGS_store);
  if (options.store != "file" && options.store != "etcd") {
    return UsageError("--store: must be file or etcd, not \"" + options.store + "\"");
  }
  if (options.store == "etcd") {
    absl::StatusOr<std::vector<std::string>> endpoints =
        state::etcd::ParseEndpoints(absl::GetFlag(FLAGS_etcd_endpoints));
    if (!endpoints.ok()) return UsageError(std::string(endpoints.status().message()));
    options.etcd_endpoints = *endpoints;
    options.etcd_prefix = absl::GetFlag(FLAGS_etcd_prefix);
    options.ca_kek_file = absl::GetFlag(FLAGS_ca_kek_file);
    if (!options.etcd_prefix.empty()) {
      if (absl::Status s = state::etcd::CheckPrefix(options.etcd_prefix); !s.ok()) {
        return UsageError(std::string(s.message()));
      }
    }
    options.leader_lease_ttl = absl::GetFlag(FLAGS_leader_lease_ttl);
    options.replica_id = absl::GetFlag(FLAGS_replica_id);
    if (options.replica_id.empty()) options.replica_id = state::etcd::DefaultReplicaId();
    options.etcd_tls = {absl::GetFlag(FLAGS_etcd_ca_file), absl::GetFlag(FLAGS_etcd_cert_file),
                        absl::GetFlag(FLAGS_etcd_key_file), absl::GetFlag(FLAGS_etcd_server_name)};
    const std::string renewals = absl::GetFlag(FLAGS_renewals_without_store);
    if (renewals != "serve" && renewals != "refuse") {
      return UsageError("--renewals_without_store: must be serve or refuse, not \"" + renewals +
                        "\"");
    }
    options.refuse_renewals_without_store = renewals == "refuse";
    for (const absl::Status& s : {state::etcd::CheckLeaderLeaseTtl(options.leader_lease_ttl),
                                  state::etcd::CheckReplicaId(options.replica_id),
                                  state::etcd::CheckEtcdTlsFlags(options.etcd_tls)}) {
      if (!s.ok()) return UsageError(std::string(s.message()));
    }
  } else if (const std::string tls_flag = FirstEtcdTlsFlagSet(); !tls_flag.empty()) {
    return UsageError("--" + tls_flag + ": only with --store=etcd");
  } else if (!absl::GetFlag(FLAGS_ca_kek_file).empty()) {
    return UsageError("--ca_kek_file: only with --store=etcd");
  } else if (!absl::GetFlag(FLAGS_replica_id).empty()) {
    return UsageError("--replica_id: only with --store=etcd (one replica on the file store)");
  } else if (!absl::GetFlag(FLAGS_etcd_endpoints).empty()) {
    return UsageError("--etcd_endpoints: only with --store=etcd");
  } else if (absl::GetFlag(FLAGS_renewals_without_store) != "serve") {
    return UsageError("--renewals_without_store: only with --store=etcd");
  } else if (!absl::GetFlag(FLAGS_etcd_prefix).empty()) {
    // A prefix without etcd would be ignored: the operator meant a store
    // this replica is not using.
    return UsageError("--etcd_prefix: only with --store=etcd");
  }
  options.admin = absl::GetFlag(FLAGS_admin);
  options.admin_allow_non_loopback = absl::GetFlag(FLAGS_admin_allow_non_loopback);
  options.admin_host_names = absl::GetFlag(FLAGS_admin_host);
  options.admin_token_file = absl::GetFlag(FLAGS_admin_token_file);
  options.svid_ttl = absl::GetFlag(FLAGS_svid_ttl);
  options.clock_skew = absl::GetFlag(FLAGS_clock_skew);
  options.token_retention = absl::GetFlag(FLAGS_token_retention);
  if (options.token_retention < absl::ZeroDuration()) {
    return UsageError("--token_retention: must not be negative");
  }
  options.token_prune_interval = absl::GetFlag(FLAGS_token_prune_interval);
  if (options.token_prune_interval < absl::Seconds(1)) {
    return UsageError("--token_prune_interval: must be at least 1s");
  }
  options.hello_timeout = absl::GetFlag(FLAGS_hello_timeout);
  options.csr_timeout = absl::GetFlag(FLAGS_csr_timeout);
  for (const auto& [name, value, field] : std::vector<std::tuple<const char*, int64_t, size_t*>>{
           {"max_connections", absl::GetFlag(FLAGS_max_connections), &options.max_connections},
           {"svid_reserved_connections", absl::GetFlag(FLAGS_svid_reserved_connections),
            &options.svid_reserved_connections},
           {"max_anonymous_connections_per_source",
            absl::GetFlag(FLAGS_max_anonymous_connections_per_source),
            &options.max_anonymous_connections_per_source},
           {"max_pending_handshakes", absl::GetFlag(FLAGS_max_pending_handshakes),
            &options.max_pending_handshakes},
           {"max_pending_handshakes_per_source",
            absl::GetFlag(FLAGS_max_pending_handshakes_per_source),
            &options.max_pending_handshakes_per_source},
           {"tls_refusal_log_burst", absl::GetFlag(FLAGS_tls_refusal_log_burst),
            &options.tls_refusal_log_burst}}) {
    if (value < 0) return UsageError(absl::StrCat("--", name, ": must not be negative"));
    *field = static_cast<size_t>(value);
  }
  options.first_byte_timeout = absl::GetFlag(FLAGS_first_byte_timeout);
  options.first_stream_timeout = absl::GetFlag(FLAGS_first_stream_timeout);
  options.tls_refusal_log_interval = absl::GetFlag(FLAGS_tls_refusal_log_interval);
  options.reattestation_ttl = absl::GetFlag(FLAGS_reattestation_ttl);
  options.issuance.burst = absl::GetFlag(FLAGS_issuance_burst);
  options.issuance.per_ttl = absl::GetFlag(FLAGS_issuance_per_ttl);
  options.issuance.max_unexpired = absl::GetFlag(FLAGS_issuance_max_unexpired);
  options.jwks_file = absl::GetFlag(FLAGS_jwks_file);
  options.sa_issuer = absl::GetFlag(FLAGS_sa_issuer);
  options.sa_audience = absl::GetFlag(FLAGS_sa_audience);
  options.issuer_discovery.enabled = absl::GetFlag(FLAGS_sa_issuer_discovery);
  options.issuer_discovery.ca_file = absl::GetFlag(FLAGS_sa_issuer_ca_file);
  options.issuer_discovery.token_file = absl::GetFlag(FLAGS_sa_issuer_token_file);
  options.issuer_discovery.refresh_interval = absl::GetFlag(FLAGS_sa_jwks_refresh_interval);
  options.issuer_discovery.unknown_key_interval = absl::GetFlag(FLAGS_sa_jwks_unknown_key_interval);
  options.issuer_discovery.timeout = absl::GetFlag(FLAGS_sa_issuer_timeout);
  options.plugin_ca_cert = absl::GetFlag(FLAGS_plugin_ca_cert);
  options.plugin_ca_key = absl::GetFlag(FLAGS_plugin_ca_key);
  options.plugin_ca_chain = absl::GetFlag(FLAGS_plugin_ca_chain);
  options.plugin_root_bundle = absl::GetFlag(FLAGS_plugin_root_bundle);
  options.rollover.propagating = absl::GetFlag(FLAGS_rollover_propagating_timeout);
  options.rollover.rekeying = absl::GetFlag(FLAGS_rollover_rekeying_timeout);
  options.rollover.retiring = absl::GetFlag(FLAGS_rollover_retiring_timeout);
  // Partners fetch the bundle endpoint about once per refresh hint: the new
  // root must reach them (twice the hint: one slow or failed fetch) before
  // any leaf, or the endpoint's own SVID, is issued under it.
  if (!absl::GetFlag(FLAGS_bundle_endpoint_listen).empty()) {
    options.rollover.propagating_min = 2 * absl::GetFlag(FLAGS_bundle_endpoint_refresh_hint);
  }
  options.public_listen = absl::GetFlag(FLAGS_public_listen);
  options.webhook_listen = absl::GetFlag(FLAGS_webhook_listen);
  options.bundle_endpoint_listen = absl::GetFlag(FLAGS_bundle_endpoint_listen);
  absl::StatusOr<std::optional<federation::BundleEndpoint::Options>> bundle_endpoint_options =
      BundleEndpointOptions();
  if (!bundle_endpoint_options.ok()) {
    return UsageError(std::string(bundle_endpoint_options.status().message()));
  }
  if (!options.webhook_listen.empty() && (absl::GetFlag(FLAGS_webhook_tls_cert).empty() ||
                                          absl::GetFlag(FLAGS_webhook_tls_key).empty())) {
    return UsageError("--webhook_listen needs --webhook_tls_cert and --webhook_tls_key");
  }
  if (const std::string file = absl::GetFlag(FLAGS_federation_file); !file.empty()) {
    absl::StatusOr<std::vector<federation::FederatedDomain>> domains =
        federation::LoadFederationFile(file, options.trust_domain);
    if (!domains.ok()) return UsageError(std::string(domains.status().message()));
    options.federation = *std::move(domains);
  }
  options.federation_refresh.min_refresh = absl::GetFlag(FLAGS_federation_min_refresh);
  options.federation_refresh.max_refresh = absl::GetFlag(FLAGS_federation_max_refresh);
  // Short-lived test SVIDs want a faster housekeeping tick.
  options.tick = std::clamp(options.svid_ttl / 20, absl::Milliseconds(100), absl::Seconds(1));

  absl::StatusOr<std::unique_ptr<server::ControlServer>> server =
      server::ControlServer::Create(options);
  if (!server.ok()) {
    std::cerr << "palisade-control: " << server.status().message() << "\n";
    return absl::IsInvalidArgument(server.status()) ? 2 : 1;
  }
  absl::StatusOr<std::shared_ptr<federation::BundleEndpoint>> bundle_endpoint =
      CreateBundleEndpoint(*std::move(bundle_endpoint_options), server->get());
  if (!bundle_endpoint.ok()) {
    std::cerr << "palisade-control: " << bundle_endpoint.status().message() << "\n";
    return absl::IsInvalidArgument(bundle_endpoint.status()) ? 2 : 1;
  }
  if (absl::Status s = (*server)->Start(); !s.ok()) {
    std::cerr << "palisade-control: " << s.message() << "\n";
    return 1;
  }
  if (*bundle_endpoint != nullptr) {
    if (absl::Status s = (*bundle_endpoint)->Start(); !s.ok()) {
      std::cerr << "palisade-control: --bundle_endpoint_listen: " << s.message() << "\n";
      return 1;
    }
    if (!WriteAddressFile(absl::GetFlag(FLAGS_bundle_endpoint_address_file),
                          (*bundle_endpoint)->address().ToString())) {
      std::cerr << "palisade-control: cannot write --bundle_endpoint_address_file\n";
      return 1;
    }
  }
  if (!WriteAddressFile(absl::GetFlag(FLAGS_listen_address_file),
                        (*server)->identity_address().ToString()) ||
      !WriteAddressFile(absl::GetFlag(FLAGS_admin_address_file),
                        (*server)->admin_address().ToString())) {
    std::cerr << "palisade-control: cannot write --listen_address_file/--admin_address_file\n";
    return 1;
  }
  std::unique_ptr<http::HttpServer> public_http;
  if (const std::string address = absl::GetFlag(FLAGS_public_listen); !address.empty()) {
    public_http = std::make_unique<http::HttpServer>((*server)->AdminConnectionLimits("public"));
    absl::StatusOr<net::SocketAddress> parsed = net::SocketAddress::Parse(address);
    if (!parsed.ok())
      return UsageError("--public_listen: " + std::string(parsed.status().message()));
    admin::InstallPublicRoutes(public_http.get(), server->get());
    if (absl::Status s = public_http->Start(*parsed); !s.ok()) {
      std::cerr << "palisade-control: --public_listen: " << s.message() << "\n";
      return 1;
    }
    log::LogEvent(log::Level::kInfo, "control", "health and metrics server up",
                  {{"address", public_http->address().ToString()}});
  }
  std::unique_ptr<webhook::WebhookServer> webhook;
  if (const std::string address = absl::GetFlag(FLAGS_webhook_listen); !address.empty()) {
    absl::StatusOr<net::SocketAddress> parsed = net::SocketAddress::Parse(address);
    if (!parsed.ok())
      return UsageError("--webhook_listen: " + std::string(parsed.status().message()));
    webhook::WebhookServer::Options webhook_options;
    webhook_options.listen = *parsed;
    webhook_options.tls_certificate_file = absl::GetFlag(FLAGS_webhook_tls_cert);
    webhook_options.tls_key_file = absl::GetFlag(FLAGS_webhook_tls_key);
    if (const std::string image = absl::GetFlag(FLAGS_inject_proxy_image); !image.empty()) {
      webhook_options.inject.proxy_image = image;
    }
    absl::StatusOr<std::unique_ptr<webhook::WebhookServer>> started =
        webhook::WebhookServer::Start(std::move(webhook_options));
    if (!started.ok()) {
      std::cerr << "palisade-control: webhook: " << started.status().message() << "\n";
      return 1;
    }
    webhook = *std::move(started);
    log::LogEvent(log::Level::kInfo, "control", "admission webhook up",
                  {{"address", webhook->address().ToString()}});
  }

  const int signal_number = WaitForStop(signals, reload_interval, [&] {
    ReloadFiles(server->get(), webhook.get(), !absl::GetFlag(FLAGS_jwks_file).empty());
  });
  log::LogEvent(log::Level::kInfo, "control", "stopping", {{"signal", strsignal(signal_number)}});
  // The webhook and the public port call into the server: they go first.
  webhook.reset();
  public_http.reset();
  (*server)->Stop();
  bundle_endpoint->reset();  // the server's observer holds the last reference
  server->reset();
  log::LogEvent(log::Level::kInfo, "control", "stopped", {});
  return 0;
}

// Calls the admin API; prints the JSON answer (or the error) and returns the
// exit code.
int Call(const std::string& method, const std::string& path, const nlohmann::json& body,
         const std::function<void(const nlohmann::json&)>& print = nullptr) {
  const std::string admin = absl::GetFlag(FLAGS_admin);
  // The credential serve wrote, where this user can read it; without one
  // only the routes that need none answer.
  std::string token_file = absl::GetFlag(FLAGS_admin_token_file);
  if (token_file.empty() && !absl::GetFlag(FLAGS_state_dir).empty()) {
    token_file = state::JoinPath(absl::GetFlag(FLAGS_state_dir), admin::kAdminTokenFile);
  }
  std::string token;
  if (!token_file.empty()) {
    absl::StatusOr<std::string> read = admin::ReadAdminToken(token_file);
    if (!read.ok()) {
      std::cerr << "palisade-control: " << read.status().message() << "\n";
      return 1;
    }
    token = *std::move(read);
  }
  absl::StatusOr<admin::AdminResponse> response =
      admin::AdminRequest(admin, method, path, body.is_null() ? "" : body.dump(), token);
  if (!response.ok()) {
    std::cerr << "palisade-control: " << response.status().message() << "\n";
    return 1;
  }
  nlohmann::json answer = nlohmann::json::parse(response->body, nullptr, false);
  if (response->status != 200) {
    const std::string error = !answer.is_discarded() && answer.contains("error")
                                  ? answer["error"].get<std::string>()
                                  : response->body;
    std::cerr << "palisade-control: " << error << " (HTTP " << response->status << ")\n";
    if (response->status == 401 && token.empty()) {
      std::cerr << "palisade-control: pass the server's --state_dir (or --admin_token_file) so "
                   "that its admin credential is sent\n";
    }
    return response->status == 400 ? 2 : 1;
  }
  if (answer.is_discarded()) {
    std::cout << response->body;
  } else if (print) {
    print(answer);
  } else {
    std::cout << answer.dump(2) << "\n";
  }
  return 0;
}

int RequireSpiffeId() {
  return absl::GetFlag(FLAGS_spiffe_id).empty() ? UsageError("--spiffe_id=ID is required") : 0;
}

int Dispatch(const std::vector<std::string>& args) {
  const std::string command = args.empty() ? "" : args[0];
  const std::string sub = args.size() > 1 ? args[1] : "";
  if (command == "serve" && args.size() == 1) return Serve();
  if (command == "token" && sub == "create" && args.size() == 2) {
    if (int rc = RequireSpiffeId(); rc != 0) return rc;
    const absl::Duration ttl = absl::GetFlag(FLAGS_ttl);
    if (ttl < absl::ZeroDuration()) return UsageError("--ttl must not be negative");
    return Call("POST", "/api/v1/tokens",
                {{"spiffe_id", absl::GetFlag(FLAGS_spiffe_id)},
                 {"ttl_seconds", absl::ToInt64Seconds(ttl)},
                 {"single_use", absl::GetFlag(FLAGS_single_use)}},
                [](const nlohmann::json& answer) {
                  // The secret alone on stdout, for scripts; the rest on stderr.
                  std::cout << answer.value("token", "") << "\n";
                  std::cerr << "join token " << answer.value("id", "") << " for "
                            << answer.value("spiffe_id", "") << ", expires "
                            << answer.value("expires_at", "")
                            << (answer.value("single_use", true) ? ", single-use" : "") << "\n";
                });
  }
  if (command == "token" && sub == "revoke" && args.size() == 2) {
    if (absl::GetFlag(FLAGS_id).empty()) return UsageError("--id=jt-... or rt-... is required");
    return Call("POST", "/api/v1/tokens/revoke", {{"id", absl::GetFlag(FLAGS_id)}});
  }
  if (command == "token" && sub == "list" && args.size() == 2) {
    return Call("GET", "/api/v1/tokens", nullptr);
  }
  if (command == "deregister" && args.size() == 1) {
    if (int rc = RequireSpiffeId(); rc != 0) return rc;
    return Call("POST", "/api/v1/deregister", {{"spiffe_id", absl::GetFlag(FLAGS_spiffe_id)}});
  }
  if (command == "register" && args.size() == 1) {
    if (int rc = RequireSpiffeId(); rc != 0) return rc;
    return Call("POST", "/api/v1/register", {{"spiffe_id", absl::GetFlag(FLAGS_spiffe_id)}});
  }
  if (command == "rollover" && sub == "start" && args.size() == 2) {
    return Call("POST", "/api/v1/rollover/start", nullptr);
  }
  if (command == "rollover" && sub == "status" && args.size() == 2) {
    return Call("GET", "/api/v1/rollover", nullptr);
  }
  if (command == "status" && args.size() == 1) return Call("GET", "/api/v1/state", nullptr);
  if (command.empty()) return UsageError("a subcommand is required");
  // A subcommand without its verb, or with a wrong one: name the verbs.
  if (const Subcommand* known = FindSubcommand(command);
      known != nullptr && !known->verbs.empty()) {
    const std::string problem =
        sub.empty() ? absl::StrCat("\"", command, "\" needs a verb:")
                    : absl::StrCat("unknown subcommand \"", absl::StrJoin(args, " "),
                                   "\"; the verbs of ", command, " are:");
    std::cerr << "palisade-control: " << problem << "\n" << VerbList(*known);
    return 2;
  }
  return UsageError(absl::StrCat("unknown subcommand \"", absl::StrJoin(args, " "), "\""));
}

}  // namespace
}  // namespace palisade::control

int main(int argc, char** argv) {
  // The injector parses its own flags: hand it everything after "inject".
  if (argc >= 2 && std::string(argv[1]) == "inject") {
    return palisade::inject::RunInjectCommand(argc - 1, argv + 1);
  }
  if (auto words = palisade::cli::HelpRequest(argc, argv); words.has_value()) {
    return palisade::control::PrintHelp(*words);
  }
  absl::SetProgramUsageMessage(palisade::control::kUsage);
  palisade::cli::ConfigureAbseilUsage(
      "control/main.cc", absl::StrCat("palisade-control ", palisade::kVersion, " (BoringSSL)"));
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  return palisade::control::Dispatch(args);
}
