#include "control/inject/inject_options.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace palisade::inject {
namespace {

bool IsPort(int port) { return port >= 1 && port <= 65535; }

// A Kubernetes ConfigMap name: a DNS subdomain.
bool IsDnsSubdomain(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-' && c != '.') return false;
  }
  return absl::ascii_isalnum(name.front()) && absl::ascii_isalnum(name.back());
}

// Digits, hex digits, '.', ':' and one '/': enough to keep a typo or a shell
// metacharacter out of the init container's arguments.
bool LooksLikeCidr(const std::string& cidr) {
  if (cidr.empty() || cidr.find('/') == std::string::npos) return false;
  for (char c : cidr) {
    if (!absl::ascii_isxdigit(c) && c != '.' && c != ':' && c != '/') return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateInjectOptions(const InjectOptions& o) {
  auto bad = [](absl::string_view what, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", why));
  };
  if (o.proxy_image.empty()) return bad("proxy_image", "is required");
  if (o.image_pull_policy != "Always" && o.image_pull_policy != "IfNotPresent" &&
      o.image_pull_policy != "Never") {
    return bad("image_pull_policy",
               absl::StrCat("\"", o.image_pull_policy, "\" is not Always, IfNotPresent or Never"));
  }
  if (!IsDnsSubdomain(o.proxy_config_map)) {
    return bad("proxy_config_map",
               absl::StrCat("\"", o.proxy_config_map, "\" is not a valid ConfigMap name"));
  }
  if (!IsDnsSubdomain(o.bundle_config_map)) {
    return bad("bundle_config_map",
               absl::StrCat("\"", o.bundle_config_map, "\" is not a valid ConfigMap name"));
  }
  if (o.token_audience.empty()) return bad("token_audience", "is required");
  if (o.token_expiration_seconds < 600) {
    return bad("token_expiration_seconds",
               absl::StrCat(o.token_expiration_seconds, " is under 600, which Kubernetes refuses"));
  }
  if (o.proxy_uid <= 0) {
    return bad("proxy_uid", "must be a non-root uid: the capture rules let this uid's traffic by");
  }
  for (auto [name, port] : {std::pair<const char*, int>{"inbound_port", o.inbound_port},
                            {"outbound_port", o.outbound_port},
                            {"health_port", o.health_port}}) {
    if (!IsPort(port)) return bad(name, absl::StrCat(port, " is not a port (1-65535)"));
  }
  if (o.inbound_port == o.outbound_port || o.inbound_port == o.health_port ||
      o.outbound_port == o.health_port) {
    return bad("inbound_port", "inbound_port, outbound_port and health_port must differ");
  }
  for (int port : o.exclude_inbound_ports) {
    if (!IsPort(port)) return bad("exclude_inbound_ports", absl::StrCat(port, " is not a port"));
  }
  for (int port : o.exclude_outbound_ports) {
    if (!IsPort(port)) return bad("exclude_outbound_ports", absl::StrCat(port, " is not a port"));
  }
  for (const std::string& cidr : o.exclude_outbound_cidrs) {
    if (!LooksLikeCidr(cidr)) {
      return bad("exclude_outbound_cidrs", absl::StrCat("\"", cidr, "\" is not a CIDR"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int>> ParsePortList(absl::string_view text) {
  std::vector<int> ports;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    int port = 0;
    if (!absl::SimpleAtoi(item, &port) || !IsPort(port)) {
      return absl::InvalidArgumentError(absl::StrCat("\"", item, "\" is not a port (1-65535)"));
    }
    ports.push_back(port);
  }
  return ports;
}

absl::StatusOr<std::vector<std::string>> ParseCidrList(absl::string_view text) {
  std::vector<std::string> cidrs;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::string cidr(absl::StripAsciiWhitespace(item));
    if (!LooksLikeCidr(cidr)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", cidr, "\" is not a CIDR such as 10.0.0.0/8 or fd00::/8"));
    }
    cidrs.push_back(std::move(cidr));
  }
  return cidrs;
}

}  // namespace palisade::inject
