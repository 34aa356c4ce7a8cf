// The one way tests write palisade-proxy YAML: a plain struct whose fields
// are named as in proto/palisade/config/v1/config.proto (the YAML keys).
// Unset fields (empty, zero, nullopt) are left out, so the proxy's documented
// default applies; `extra` carries raw YAML for anything the fields cannot say.
#ifndef PALISADE_TESTS_UTIL_PROXY_YAML_H_
#define PALISADE_TESTS_UTIL_PROXY_YAML_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace palisade::testing {

struct ProxyYaml {
  struct TrustBundle {
    std::string trust_domain;
    std::string file;
  };
  struct Files {
    std::string certificate_chain_file;
    std::string private_key_file;
    std::vector<TrustBundle> trust_bundles;
  };
  struct ControlPlane {
    std::string address;
    std::vector<std::string> addresses;  // further replicas
    std::string server_spiffe_id;
    std::string bootstrap_bundle_file;
    std::string join_token_file;             // set one of these two
    std::string service_account_token_file;  //
    std::string instance_name;
    std::optional<double> renew_fraction;
    std::string initial_backoff;
    std::string max_backoff;
    std::vector<std::string> federated_trust_domains;
  };
  struct Identity {
    std::string spiffe_id;
    std::optional<Files> files;  // set one of these two
    std::optional<ControlPlane> control_plane;
  };
  // Written only when one of the lists holds something.
  struct Authorization {
    std::vector<std::string> spiffe_ids;
    std::vector<std::string> trust_domains;
    std::vector<std::string> path_prefixes;
  };
  struct PeerMatch {  // set one
    std::string spiffe_id;
    std::string trust_domain;
    std::string path_prefix;
  };
  struct Limits {
    uint32_t max_connections = 0;
    uint32_t buffer_high_water_bytes = 0;
    uint32_t max_pending_handshakes = 0;
    uint32_t max_pending_handshakes_per_source = 0;
  };
  struct Timeouts {
    std::string handshake;
    std::string connect;
    std::string idle;
  };
  struct CallerIdentity {  // written when mode is set
    std::string mode;
    std::string header_name;
    uint32_t max_header_bytes = 0;
  };
  // An inbound listener for clients outside the mesh (GatewayClients).
  struct Gateway {
    std::vector<std::string> trust_store_files;
    std::vector<std::string> crl_files;
    std::string identity_from;
    // gateway.allow
    std::vector<std::string> identities;
    std::vector<std::string> dns_wildcards;
    std::vector<std::string> subjects;
  };
  struct Inbound {
    std::string name;
    std::string address = "127.0.0.1:0";
    std::string forward_to;
    Authorization authorization;
    Limits limits;
    Timeouts timeouts;
    bool original_destination = false;
    CallerIdentity caller_identity;
    std::optional<Gateway> gateway;
    std::string min_tls_version;
  };
  struct Destination {
    std::string address;
    PeerMatch expected_peer;
  };
  struct Outbound {
    std::string name;
    std::string address = "127.0.0.1:0";
    std::string upstream;
    PeerMatch expected_peer;
    Limits limits;
    Timeouts timeouts;
    bool allow_non_loopback = false;
    bool original_destination = false;
    std::vector<Destination> destinations;
  };
  struct Admin {
    bool enabled = true;  // written only when false
    std::string address;
    bool allow_non_loopback = false;
    std::string public_address;
  };
  struct Runtime {
    uint32_t workers = 0;
    std::string drain_timeout;
    std::string startup_hold;
    uint32_t socket_mark = 0;
    std::string dns_cache;
  };
  struct Tls {
    std::string min_version;
    std::optional<bool> session_resumption;
    std::string ticket_key_rotation;
  };
  struct Logging {
    std::string level;
    std::string format;
    std::optional<bool> access_log;
  };
  struct Metrics {
    uint32_t max_peer_identities = 0;
    std::optional<bool> enabled;
  };
  struct Reauthentication {
    std::optional<bool> on_peer_expiry;
    std::optional<bool> on_root_removed;
    std::optional<bool> on_policy_change;
    std::string grace_period;
  };

  // Appends a listener and returns it, for the test to fill in further.
  Inbound& AddInbound(const std::string& name, const std::string& forward_to);
  Outbound& AddOutbound(const std::string& name, const std::string& upstream);

  // The whole document.
  std::string ToString() const;
  // The `identity:` section alone, for splicing into a shipped config.
  std::string IdentitySection() const;

  Identity identity;
  std::vector<Inbound> inbound;
  std::vector<Outbound> outbound;
  Admin admin;
  Runtime runtime;
  Tls tls;
  Logging logging;
  Metrics metrics;
  Reauthentication reauthentication;
  // Raw YAML appended at the end as is (top-level keys, or a broken document
  // on purpose).
  std::string extra;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_PROXY_YAML_H_
