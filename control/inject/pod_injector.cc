#include "control/inject/pod_injector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "runtime/status/status_macros.h"

namespace palisade::inject {
namespace {

// The proxy's full admin API (deploy/kubernetes/proxy.yaml); on loopback, but
// an app binding the port on every address would still take it.
constexpr int kAdminPort = 15000;

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

// metadata.<map>[key] as a string, or "" when absent or not a string.
std::string StringAt(const Json& metadata, const char* map, const char* key) {
  if (!metadata.is_object()) return "";
  auto m = metadata.find(map);
  if (m == metadata.end() || !m->is_object()) return "";
  auto v = m->find(key);
  return v != m->end() && v->is_string() ? v->get<std::string>() : "";
}

bool OptedOut(const Json& metadata) {
  return StringAt(metadata, "annotations", kInjectKey) == "false" ||
         StringAt(metadata, "labels", kInjectKey) == "false";
}

// spec[field] as an array: absent and null are empty; anything else is an error.
absl::StatusOr<const Json*> ListAt(const Json& spec, const char* field) {
  static const Json kEmpty = Json::array();
  auto it = spec.find(field);
  if (it == spec.end() || it->is_null()) return &kEmpty;
  if (!it->is_array()) return Invalid(absl::StrCat("spec.", field, " is not a list"));
  return &*it;
}

std::string NameOf(const Json& item) {
  if (!item.is_object()) return "";
  auto it = item.find("name");
  return it != item.end() && it->is_string() ? it->get<std::string>() : "";
}

// The port a probe handler connects to, resolving a named port against the
// container's ports; 0 when the probe does not use the network or the name is
// unknown.
int ProbePort(const Json& container, const Json& probe, std::string* kind) {
  if (!probe.is_object()) return 0;
  for (const char* handler : {"httpGet", "tcpSocket", "grpc"}) {
    auto h = probe.find(handler);
    if (h == probe.end() || !h->is_object()) continue;
    *kind = handler;
    auto port = h->find("port");
    if (port == h->end()) return 0;
    if (port->is_number_integer()) return port->get<int>();
    if (!port->is_string()) return 0;
    auto ports = container.find("ports");
    if (ports == container.end() || !ports->is_array()) return 0;
    for (const Json& p : *ports) {
      if (NameOf(p) == port->get<std::string>() && p.contains("containerPort") &&
          p["containerPort"].is_number_integer()) {
        return p["containerPort"].get<int>();
      }
    }
    return 0;
  }
  return 0;
}

int64_t RunAsUser(const Json& holder) {
  if (!holder.is_object()) return -1;
  auto sc = holder.find("securityContext");
  if (sc == holder.end() || !sc->is_object()) return -1;
  auto uid = sc->find("runAsUser");
  return uid != sc->end() && uid->is_number_integer() ? uid->get<int64_t>() : -1;
}

template <typename T>
void AppendUnique(const std::vector<T>& from, std::vector<T>* to) {
  for (const T& item : from) {
    if (std::find(to->begin(), to->end(), item) == to->end()) to->push_back(item);
  }
}

std::string EscapePointer(absl::string_view key) {
  return absl::StrReplaceAll(key, {{"~", "~0"}, {"/", "~1"}});
}

Json HttpProbe(const char* path, int port, int period, int failures) {
  return Json{{"httpGet", {{"path", path}, {"port", port}}},
              {"periodSeconds", period},
              {"timeoutSeconds", 1},
              {"failureThreshold", failures}};
}

Json Resources(const std::string& cpu_request, const std::string& memory_request,
               const std::string& cpu_limit, const std::string& memory_limit) {
  Json requests = Json::object();
  if (!cpu_request.empty()) requests["cpu"] = cpu_request;
  if (!memory_request.empty()) requests["memory"] = memory_request;
  Json limits = Json::object();
  if (!cpu_limit.empty()) limits["cpu"] = cpu_limit;
  if (!memory_limit.empty()) limits["memory"] = memory_limit;
  Json resources = Json::object();
  if (!requests.empty()) resources["requests"] = requests;
  if (!limits.empty()) resources["limits"] = limits;
  return resources;
}

}  // namespace

absl::StatusOr<PodInjector> PodInjector::Create(const InjectOptions& options) {
  RETURN_IF_ERROR(ValidateInjectOptions(options));
  return PodInjector(options);
}

absl::StatusOr<InjectPlan> PodInjector::Plan(const Json& metadata, const Json& spec,
                                             const Json& owner_metadata) const {
  InjectPlan plan;
  if (!metadata.is_null() && !metadata.is_object()) return Invalid("metadata is not a map");
  if (!spec.is_object()) return Invalid("spec is not a map");
  if (metadata.is_object() && metadata.contains("annotations") &&
      !metadata["annotations"].is_null() && !metadata["annotations"].is_object()) {
    return Invalid("metadata.annotations is not a map");
  }
  if (OptedOut(metadata) || OptedOut(owner_metadata)) {
    plan.skip_reason = absl::StrCat(kInjectKey, " is \"false\"");
    return plan;
  }
  ASSIGN_OR_RETURN(const Json* containers, ListAt(spec, "containers"));
  ASSIGN_OR_RETURN(const Json* init_containers, ListAt(spec, "initContainers"));
  ASSIGN_OR_RETURN(const Json* volumes, ListAt(spec, "volumes"));

  // Idempotence: the marker, or our sidecar put there by hand or by an older injector.
  if (metadata.is_object() && metadata.contains("annotations") &&
      metadata["annotations"].is_object() &&
      metadata["annotations"].contains(kInjectedAnnotation)) {
    plan.skip_reason = absl::StrCat("already injected (", kInjectedAnnotation, ")");
    return plan;
  }
  for (const Json* list : {containers, init_containers}) {
    for (const Json& c : *list) {
      if (NameOf(c) == kProxyContainerName) {
        plan.skip_reason = absl::StrCat("already has a ", kProxyContainerName, " container");
        return plan;
      }
    }
  }
  if (spec.value("hostNetwork", false) == true) {
    plan.skip_reason = "hostNetwork: true (the capture rules would rewrite the node's own network)";
    plan.warnings.push_back(absl::StrCat("not injected: ", plan.skip_reason));
    return plan;
  }
  if (containers->empty()) return Invalid("spec.containers is empty");

  for (const Json& c : *init_containers) {
    if (NameOf(c) == kInitContainerName) {
      return Invalid(absl::StrCat("spec.initContainers already has a container named \"",
                                  kInitContainerName, "\""));
    }
  }
  for (const Json& v : *volumes) {
    if (NameOf(v) == kVolumeName) {
      return Invalid(absl::StrCat("spec.volumes already has a volume named \"", kVolumeName, "\""));
    }
  }
  const std::pair<int, const char*> reserved[] = {{options_.inbound_port, "inbound capture"},
                                                  {options_.outbound_port, "outbound capture"},
                                                  {options_.health_port, "health and metrics"},
                                                  {kAdminPort, "admin"}};
  for (const char* list : {"containers", "initContainers"}) {
    const Json& items = std::string(list) == "containers" ? *containers : *init_containers;
    for (size_t i = 0; i < items.size(); ++i) {
      const Json& c = items[i];
      if (!c.is_object()) return Invalid(absl::StrCat("spec.", list, "[", i, "] is not a map"));
      auto ports = c.find("ports");
      if (ports == c.end() || !ports->is_array()) continue;
      for (const Json& p : *ports) {
        if (!p.is_object() || !p.contains("containerPort")) continue;
        for (const auto& [port, role] : reserved) {
          if (p["containerPort"] == port) {
            return Invalid(absl::StrCat("spec.", list, "[", i, "] (\"", NameOf(c), "\") uses port ",
                                        port, ", the proxy's ", role, " port"));
          }
        }
      }
    }
  }

  // Capture exclusions: the health port always, then the options', then the pod's own.
  std::vector<int> exclude_inbound = {options_.health_port};
  AppendUnique(options_.exclude_inbound_ports, &exclude_inbound);
  std::vector<int> exclude_outbound = options_.exclude_outbound_ports;
  std::vector<std::string> exclude_cidrs = options_.exclude_outbound_cidrs;
  if (std::string v = StringAt(metadata, "annotations", kExcludeInboundPortsAnnotation);
      !v.empty()) {
    absl::StatusOr<std::vector<int>> ports = ParsePortList(v);
    if (!ports.ok()) {
      return Invalid(absl::StrCat("annotation ", kExcludeInboundPortsAnnotation, ": ",
                                  ports.status().message()));
    }
    AppendUnique(*ports, &exclude_inbound);
  }
  if (std::string v = StringAt(metadata, "annotations", kExcludeOutboundPortsAnnotation);
      !v.empty()) {
    absl::StatusOr<std::vector<int>> ports = ParsePortList(v);
    if (!ports.ok()) {
      return Invalid(absl::StrCat("annotation ", kExcludeOutboundPortsAnnotation, ": ",
                                  ports.status().message()));
    }
    AppendUnique(*ports, &exclude_outbound);
  }
  if (std::string v = StringAt(metadata, "annotations", kExcludeOutboundCidrsAnnotation);
      !v.empty()) {
    absl::StatusOr<std::vector<std::string>> cidrs = ParseCidrList(v);
    if (!cidrs.ok()) {
      return Invalid(absl::StrCat("annotation ", kExcludeOutboundCidrsAnnotation, ": ",
                                  cidrs.status().message()));
    }
    AppendUnique(*cidrs, &exclude_cidrs);
  }

  // The kubelet probes in plaintext from the node; a captured port expects mTLS.
  for (const Json* list : {containers, init_containers}) {
    for (const Json& c : *list) {
      for (const char* probe : {"startupProbe", "readinessProbe", "livenessProbe"}) {
        if (!c.contains(probe)) continue;
        std::string kind;
        const int port = ProbePort(c, c[probe], &kind);
        if (port <= 0 || std::find(exclude_inbound.begin(), exclude_inbound.end(), port) !=
                             exclude_inbound.end()) {
          continue;
        }
        // A TCP probe still connects (to the proxy), so it no longer tests the app.
        const char* effect = kind == "tcpSocket" ? "would check the proxy, not the app"
                                                 : "would fail: the proxy expects mTLS there";
        plan.warnings.push_back(absl::StrCat(
            "container \"", NameOf(c), "\": ", probe, " (", kind, ") on port ", port, " ", effect,
            ", since the capture sends the kubelet's plaintext probe to the proxy; serve probes on "
            "a port listed in ",
            kExcludeInboundPortsAnnotation, ", or use an exec probe"));
      }
      if (RunAsUser(c) == options_.proxy_uid) {
        plan.warnings.push_back(absl::StrCat("container \"", NameOf(c), "\" runs as uid ",
                                             options_.proxy_uid,
                                             ", the proxy's: its traffic bypasses the mesh"));
      }
    }
  }
  if (RunAsUser(spec) == options_.proxy_uid) {
    plan.warnings.push_back(absl::StrCat("the pod runs as uid ", options_.proxy_uid,
                                         ", the proxy's: its traffic bypasses the mesh"));
  }

  plan.inject = true;
  plan.mutation.init_containers.push_back(
      CaptureContainer(exclude_inbound, exclude_outbound, exclude_cidrs));
  plan.mutation.init_containers.push_back(ProxyContainer());
  plan.mutation.volumes.push_back(IdentityVolume());

  Json existing = metadata.is_object() && metadata.contains("annotations") &&
                          metadata["annotations"].is_object()
                      ? metadata["annotations"]
                      : Json::object();
  const std::string health_port = std::to_string(options_.health_port);
  std::vector<std::pair<std::string, std::string>> annotations = {
      {kInjectedAnnotation, "true"},
      // The scrape job in deploy/kubernetes/prometheus-scrape.yaml.
      {"palisade.dev/scrape", "true"},
      {"palisade.dev/admin-port", health_port}};
  // The common convention, unless the app already uses it for its own metrics.
  bool app_scraped = false;
  for (const auto& [key, value] : existing.items()) {
    app_scraped |= key.rfind("prometheus.io/", 0) == 0;
  }
  if (!app_scraped) {
    annotations.push_back({"prometheus.io/scrape", "true"});
    annotations.push_back({"prometheus.io/port", health_port});
    annotations.push_back({"prometheus.io/path", "/metrics"});
  }
  for (const auto& [key, value] : annotations) {
    if (!existing.contains(key)) plan.mutation.annotations[key] = value;
  }
  return plan;
}

Json PodInjector::CaptureContainer(const std::vector<int>& exclude_inbound,
                                   const std::vector<int>& exclude_outbound,
                                   const std::vector<std::string>& exclude_cidrs) const {
  Json args = {"install",
               "--proxy-uid",
               std::to_string(options_.proxy_uid),
               "--inbound-port",
               std::to_string(options_.inbound_port),
               "--outbound-port",
               std::to_string(options_.outbound_port),
               "--exclude-inbound-ports",
               absl::StrJoin(exclude_inbound, ",")};
  if (!exclude_outbound.empty()) {
    args.push_back("--exclude-outbound-ports");
    args.push_back(absl::StrJoin(exclude_outbound, ","));
  }
  if (!exclude_cidrs.empty()) {
    args.push_back("--exclude-outbound-cidrs");
    args.push_back(absl::StrJoin(exclude_cidrs, ","));
  }
  if (options_.capture_ipv6) args.push_back("--ipv6");
  return Json{{"name", kInitContainerName},
              {"image", options_.proxy_image},
              {"imagePullPolicy", options_.image_pull_policy},
              {"command", {kCaptureScript}},
              {"args", args},
              {"resources", Resources("10m", "16Mi", "100m", "64Mi")},
              // Root with only the two network capabilities iptables needs.
              {"securityContext",
               {{"runAsUser", 0},
                {"runAsGroup", 0},
                {"runAsNonRoot", false},
                {"privileged", false},
                {"allowPrivilegeEscalation", false},
                {"readOnlyRootFilesystem", true},
                {"capabilities", {{"add", {"NET_ADMIN", "NET_RAW"}}, {"drop", {"ALL"}}}}}},
              {"terminationMessagePolicy", "FallbackToLogsOnError"}};
}

Json PodInjector::ProxyContainer() const {
  const Json health_port = options_.health_port;
  return Json{
      {"name", kProxyContainerName},
      {"image", options_.proxy_image},
      {"imagePullPolicy", options_.image_pull_policy},
      // A native sidecar: started before the app's containers, stopped after them.
      {"restartPolicy", "Always"},
      {"args", {absl::StrCat("--config=", kMountPath, "/proxy.yaml")}},
      {"ports",
       {{{"name", "palisade-admin"}, {"containerPort", health_port}, {"protocol", "TCP"}}}},
      {"resources", Resources(options_.proxy_cpu_request, options_.proxy_memory_request,
                              options_.proxy_cpu_limit, options_.proxy_memory_limit)},
      // No SO_MARK here: it needs CAP_NET_ADMIN, which a non-root container
      // without privilege escalation cannot hold; the capture rules recognise
      // the proxy by its uid instead.
      {"securityContext",
       {{"runAsUser", options_.proxy_uid},
        {"runAsGroup", options_.proxy_uid},
        {"runAsNonRoot", true},
        {"privileged", false},
        {"allowPrivilegeEscalation", false},
        {"readOnlyRootFilesystem", true},
        {"capabilities", {{"drop", {"ALL"}}}},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      // The app starts once this passes: the proxy holds an SVID and listens.
      {"startupProbe", HttpProbe("/ready", options_.health_port, 1, 120)},
      {"readinessProbe", HttpProbe("/ready", options_.health_port, 5, 3)},
      {"livenessProbe", HttpProbe("/healthz", options_.health_port, 10, 3)},
      {"volumeMounts", {{{"name", kVolumeName}, {"mountPath", kMountPath}, {"readOnly", true}}}},
      {"terminationMessagePolicy", "FallbackToLogsOnError"}};
}

// One read-only directory with everything the proxy's configuration names,
// so the configuration's relative file names work as they are.
Json PodInjector::IdentityVolume() const {
  return Json{{"name", kVolumeName},
              {"projected",
               {{"sources",
                 {{{"configMap",
                    {{"name", options_.proxy_config_map},
                     {"items", {{{"key", "proxy.yaml"}, {"path", "proxy.yaml"}}}}}}},
                  {{"configMap",
                    {{"name", options_.bundle_config_map},
                     {"items", {{{"key", "root-bundle.pem"}, {"path", "root-bundle.pem"}}}}}}},
                  {{"serviceAccountToken",
                    {{"audience", options_.token_audience},
                     {"expirationSeconds", options_.token_expiration_seconds},
                     {"path", "token"}}}}}}}}};
}

void PodInjector::Apply(const PodMutation& mutation, Json* pod) {
  Json& metadata = (*pod)["metadata"];
  if (!metadata.is_object()) metadata = Json::object();
  Json& annotations = metadata["annotations"];
  if (!annotations.is_object()) annotations = Json::object();
  for (const auto& [key, value] : mutation.annotations.items()) annotations[key] = value;

  Json& spec = (*pod)["spec"];
  Json& init = spec["initContainers"];
  if (!init.is_array()) init = Json::array();
  init.insert(init.begin(), mutation.init_containers.begin(), mutation.init_containers.end());
  Json& volumes = spec["volumes"];
  if (!volumes.is_array()) volumes = Json::array();
  volumes.insert(volumes.end(), mutation.volumes.begin(), mutation.volumes.end());
}

Json PodInjector::ToJsonPatch(const PodMutation& mutation, const Json& pod) {
  Json ops = Json::array();
  auto add = [&ops](std::string path, Json value) {
    ops.push_back(Json{{"op", "add"}, {"path", std::move(path)}, {"value", std::move(value)}});
  };
  const Json* metadata = pod.contains("metadata") ? &pod["metadata"] : nullptr;
  if (!mutation.annotations.empty()) {
    if (metadata == nullptr || !metadata->is_object()) {
      add("/metadata", Json{{"annotations", mutation.annotations}});
    } else if (!metadata->contains("annotations") || !(*metadata)["annotations"].is_object()) {
      add("/metadata/annotations", mutation.annotations);
    } else {
      for (const auto& [key, value] : mutation.annotations.items()) {
        add(absl::StrCat("/metadata/annotations/", EscapePointer(key)), value);
      }
    }
  }
  const Json& spec = pod.at("spec");
  if (!spec.contains("initContainers") || !spec["initContainers"].is_array()) {
    add("/spec/initContainers", mutation.init_containers);
  } else {
    // Each add shifts what follows, so index i puts ours first, in order.
    for (size_t i = 0; i < mutation.init_containers.size(); ++i) {
      add(absl::StrCat("/spec/initContainers/", i), mutation.init_containers[i]);
    }
  }
  if (!spec.contains("volumes") || !spec["volumes"].is_array()) {
    add("/spec/volumes", mutation.volumes);
  } else {
    for (const Json& v : mutation.volumes) add("/spec/volumes/-", v);
  }
  return ops;
}

}  // namespace palisade::inject
