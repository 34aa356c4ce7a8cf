#include "tests/util/proxy_yaml.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace palisade::testing {
namespace {

// A double-quoted YAML scalar: addresses such as "[::]:15006" and versions
// such as "1.3" must not be read as anything but strings.
std::string Quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// Lines of one document; every helper leaves out what is unset.
class Writer {
 public:
  void Line(int indent, const std::string& text) {
    absl::StrAppend(&out_, std::string(indent, ' '), text, "\n");
  }
  void String(int indent, const std::string& key, const std::string& value) {
    if (!value.empty()) Line(indent, absl::StrCat(key, ": ", Quote(value)));
  }
  void Number(int indent, const std::string& key, uint64_t value) {
    if (value != 0) Line(indent, absl::StrCat(key, ": ", value));
  }
  void Bool(int indent, const std::string& key, std::optional<bool> value) {
    if (value.has_value()) Line(indent, absl::StrCat(key, ": ", *value ? "true" : "false"));
  }
  void List(int indent, const std::string& key, const std::vector<std::string>& values) {
    if (values.empty()) return;
    std::vector<std::string> quoted;
    for (const std::string& v : values) quoted.push_back(Quote(v));
    Line(indent, absl::StrCat(key, ": [", absl::StrJoin(quoted, ", "), "]"));
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

bool IsSet(const ProxyYaml::Authorization& a) {
  return !a.spiffe_ids.empty() || !a.trust_domains.empty() || !a.path_prefixes.empty();
}
bool IsSet(const ProxyYaml::PeerMatch& m) {
  return !m.spiffe_id.empty() || !m.trust_domain.empty() || !m.path_prefix.empty();
}
bool IsSet(const ProxyYaml::Limits& l) {
  return l.max_connections != 0 || l.buffer_high_water_bytes != 0 ||
         l.max_pending_handshakes != 0 || l.max_pending_handshakes_per_source != 0;
}
bool IsSet(const ProxyYaml::Timeouts& t) {
  return !t.handshake.empty() || !t.connect.empty() || !t.idle.empty();
}

void WritePeerMatch(Writer& w, int indent, const std::string& key, const ProxyYaml::PeerMatch& m) {
  if (!IsSet(m)) return;
  w.Line(indent, key + ":");
  w.String(indent + 2, "spiffe_id", m.spiffe_id);
  w.String(indent + 2, "trust_domain", m.trust_domain);
  w.String(indent + 2, "path_prefix", m.path_prefix);
}

void WriteLimitsAndTimeouts(Writer& w, const ProxyYaml::Limits& limits,
                            const ProxyYaml::Timeouts& timeouts) {
  if (IsSet(limits)) {
    w.Line(4, "limits:");
    w.Number(6, "max_connections", limits.max_connections);
    w.Number(6, "buffer_high_water_bytes", limits.buffer_high_water_bytes);
    w.Number(6, "max_pending_handshakes", limits.max_pending_handshakes);
    w.Number(6, "max_pending_handshakes_per_source", limits.max_pending_handshakes_per_source);
  }
  if (IsSet(timeouts)) {
    w.Line(4, "timeouts:");
    w.String(6, "handshake", timeouts.handshake);
    w.String(6, "connect", timeouts.connect);
    w.String(6, "idle", timeouts.idle);
  }
}

void WriteIdentity(Writer& w, const ProxyYaml::Identity& identity) {
  w.Line(0, "identity:");
  w.String(2, "spiffe_id", identity.spiffe_id);
  if (identity.files.has_value()) {
    const ProxyYaml::Files& f = *identity.files;
    w.Line(2, "files:");
    w.String(4, "certificate_chain_file", f.certificate_chain_file);
    w.String(4, "private_key_file", f.private_key_file);
    if (!f.trust_bundles.empty()) w.Line(4, "trust_bundles:");
    for (const ProxyYaml::TrustBundle& b : f.trust_bundles) {
      w.Line(6, "- trust_domain: " + Quote(b.trust_domain));
      w.String(8, "file", b.file);
    }
  }
  if (identity.control_plane.has_value()) {
    const ProxyYaml::ControlPlane& cp = *identity.control_plane;
    w.Line(2, "control_plane:");
    w.String(4, "address", cp.address);
    w.List(4, "addresses", cp.addresses);
    w.String(4, "server_spiffe_id", cp.server_spiffe_id);
    w.String(4, "bootstrap_bundle_file", cp.bootstrap_bundle_file);
    w.String(4, "join_token_file", cp.join_token_file);
    w.String(4, "service_account_token_file", cp.service_account_token_file);
    w.String(4, "instance_name", cp.instance_name);
    if (cp.renew_fraction.has_value()) {
      w.Line(4, absl::StrCat("renew_fraction: ", *cp.renew_fraction));
    }
    w.String(4, "initial_backoff", cp.initial_backoff);
    w.String(4, "max_backoff", cp.max_backoff);
    w.List(4, "federated_trust_domains", cp.federated_trust_domains);
  }
}

void WriteInbound(Writer& w, const std::vector<ProxyYaml::Inbound>& listeners) {
  if (listeners.empty()) return;
  w.Line(0, "inbound:");
  for (const ProxyYaml::Inbound& in : listeners) {
    w.Line(2, "- name: " + Quote(in.name));
    w.String(4, "address", in.address);
    w.String(4, "forward_to", in.forward_to);
    if (in.original_destination) w.Line(4, "original_destination: true");
    if (!in.caller_identity.mode.empty()) {
      w.Line(4, "caller_identity:");
      w.String(6, "mode", in.caller_identity.mode);
      w.String(6, "header_name", in.caller_identity.header_name);
      if (in.caller_identity.max_header_bytes != 0) {
        w.Line(6, absl::StrCat("max_header_bytes: ", in.caller_identity.max_header_bytes));
      }
    }
    if (IsSet(in.authorization)) {
      w.Line(4, "authorization:");
      w.List(6, "spiffe_ids", in.authorization.spiffe_ids);
      w.List(6, "trust_domains", in.authorization.trust_domains);
      w.List(6, "path_prefixes", in.authorization.path_prefixes);
    }
    if (in.gateway.has_value()) {
      const ProxyYaml::Gateway& g = *in.gateway;
      w.Line(4, "gateway:");
      w.List(6, "trust_store_files", g.trust_store_files);
      w.List(6, "crl_files", g.crl_files);
      w.String(6, "identity_from", g.identity_from);
      if (!g.identities.empty() || !g.dns_wildcards.empty() || !g.subjects.empty()) {
        w.Line(6, "allow:");
        w.List(8, "identities", g.identities);
        w.List(8, "dns_wildcards", g.dns_wildcards);
        w.List(8, "subjects", g.subjects);
      }
    }
    w.String(4, "min_tls_version", in.min_tls_version);
    WriteLimitsAndTimeouts(w, in.limits, in.timeouts);
  }
}

void WriteOutbound(Writer& w, const std::vector<ProxyYaml::Outbound>& listeners) {
  if (listeners.empty()) return;
  w.Line(0, "outbound:");
  for (const ProxyYaml::Outbound& out : listeners) {
    w.Line(2, "- name: " + Quote(out.name));
    w.String(4, "address", out.address);
    w.String(4, "upstream", out.upstream);
    if (out.allow_non_loopback) w.Line(4, "allow_non_loopback: true");
    if (out.original_destination) w.Line(4, "original_destination: true");
    WritePeerMatch(w, 4, "expected_peer", out.expected_peer);
    if (!out.destinations.empty()) w.Line(4, "destinations:");
    for (const ProxyYaml::Destination& d : out.destinations) {
      w.Line(6, "- address: " + Quote(d.address));
      WritePeerMatch(w, 8, "expected_peer", d.expected_peer);
    }
    WriteLimitsAndTimeouts(w, out.limits, out.timeouts);
  }
}

// The small sections: each heading only when one of its fields is set.
void WriteSettings(Writer& w, const ProxyYaml& c) {
  Writer admin;
  if (!c.admin.enabled) admin.Line(2, "enabled: false");
  admin.String(2, "address", c.admin.address);
  if (c.admin.allow_non_loopback) admin.Line(2, "allow_non_loopback: true");
  admin.String(2, "public_address", c.admin.public_address);
  Writer runtime;
  runtime.Number(2, "workers", c.runtime.workers);
  runtime.String(2, "drain_timeout", c.runtime.drain_timeout);
  runtime.String(2, "startup_hold", c.runtime.startup_hold);
  runtime.Number(2, "socket_mark", c.runtime.socket_mark);
  runtime.String(2, "dns_cache", c.runtime.dns_cache);
  Writer tls;
  tls.String(2, "min_version", c.tls.min_version);
  tls.Bool(2, "session_resumption", c.tls.session_resumption);
  tls.String(2, "ticket_key_rotation", c.tls.ticket_key_rotation);
  Writer logging;
  logging.String(2, "level", c.logging.level);
  logging.String(2, "format", c.logging.format);
  logging.Bool(2, "access_log", c.logging.access_log);
  Writer metrics;
  metrics.Number(2, "max_peer_identities", c.metrics.max_peer_identities);
  metrics.Bool(2, "enabled", c.metrics.enabled);
  Writer reauth;
  reauth.Bool(2, "on_peer_expiry", c.reauthentication.on_peer_expiry);
  reauth.Bool(2, "on_root_removed", c.reauthentication.on_root_removed);
  reauth.Bool(2, "on_policy_change", c.reauthentication.on_policy_change);
  reauth.String(2, "grace_period", c.reauthentication.grace_period);
  for (auto& [key, section] : {std::pair<const char*, Writer*>{"admin", &admin},
                               {"runtime", &runtime},
                               {"tls", &tls},
                               {"logging", &logging},
                               {"metrics", &metrics},
                               {"reauthentication", &reauth}}) {
    if (section->out().empty()) continue;
    w.Line(0, absl::StrCat(key, ":"));
    w.out() += section->out();
  }
}

}  // namespace

ProxyYaml::Inbound& ProxyYaml::AddInbound(const std::string& name, const std::string& forward_to) {
  Inbound& in = inbound.emplace_back();
  in.name = name;
  in.forward_to = forward_to;
  return in;
}

ProxyYaml::Outbound& ProxyYaml::AddOutbound(const std::string& name, const std::string& upstream) {
  Outbound& out = outbound.emplace_back();
  out.name = name;
  out.upstream = upstream;
  return out;
}

std::string ProxyYaml::IdentitySection() const {
  Writer w;
  WriteIdentity(w, identity);
  return w.out();
}

std::string ProxyYaml::ToString() const {
  Writer w;
  WriteIdentity(w, identity);
  WriteInbound(w, inbound);
  WriteOutbound(w, outbound);
  WriteSettings(w, *this);
  w.out() += extra;
  return w.out();
}

}  // namespace palisade::testing
