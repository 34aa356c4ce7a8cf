#include "tests/k8s/etcd_manifest_cluster.h"

#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/util/loopback.h"

namespace palisade::testing {
namespace {

YAML::Node StatefulSet(const std::string& manifest) {
  for (const YAML::Node& doc : YAML::LoadAllFromFile(manifest)) {
    if (doc["kind"] && doc["kind"].as<std::string>() == "StatefulSet") return doc;
  }
  return YAML::Node();
}

YAML::Node Named(const YAML::Node& list, const std::string& name) {
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item;
  }
  return YAML::Node();
}

// `path` inside the container -> the same file in the member's folders.
absl::StatusOr<std::string> HostPath(const YAML::Node& container, const std::string& path,
                                     const std::map<std::string, std::string>& volumes) {
  std::string best_name, best_at;
  for (const auto& m : container["volumeMounts"]) {
    const std::string at = m["mountPath"].as<std::string>();
    if ((path == at || absl::StartsWith(path, at + "/")) && at.size() > best_at.size()) {
      best_name = m["name"].as<std::string>();
      best_at = at;
    }
  }
  if (best_at.empty() || volumes.count(best_name) == 0) {
    return absl::NotFoundError(absl::StrCat(path, " is on no volume of the etcd container"));
  }
  return volumes.at(best_name) + path.substr(best_at.size());
}

// A Secret volume as the kubelet fills it: the Secret's files (here the
// folder named after it), 0440 under the pod's fsGroup.
absl::Status FillSecret(const std::string& from, const std::string& to, int fs_group) {
  std::error_code error;
  if (!std::filesystem::is_directory(from, error)) {
    return absl::NotFoundError(absl::StrCat("no folder ", from, " for the Secret"));
  }
  for (const auto& entry : std::filesystem::directory_iterator(from)) {
    const std::string file = to + "/" + entry.path().filename().string();
    if (!WriteFile(file, ReadFileOrEmpty(entry.path().string())) ||
        ::chmod(file.c_str(), 0440) != 0) {
      return absl::InternalError("cannot write " + file);
    }
    if (::geteuid() == 0 && ::chown(file.c_str(), 0, fs_group) != 0) {
      return absl::InternalError("cannot chown " + file);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdManifestCluster>> EtcdManifestCluster::Start(
    const std::string& manifest, const std::string& secrets, const std::string& dir) {
  // A port picked free can be taken by another test before etcd binds it:
  // then the members never get ready, and they start again on other ports.
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<EtcdManifestCluster> cluster(new EtcdManifestCluster());
    last = cluster->StartMembers(manifest, secrets, absl::StrCat(dir, "/try", attempt));
    if (last.ok()) return cluster;
    if (absl::IsInvalidArgument(last) || absl::IsNotFound(last)) break;  // the manifest's fault
  }
  return last;
}

absl::Status EtcdManifestCluster::StartMembers(const std::string& manifest,
                                               const std::string& secrets, const std::string& dir) {
  const YAML::Node set = StatefulSet(manifest);
  if (!set.IsMap()) return absl::InvalidArgumentError("no StatefulSet in " + manifest);
  subdomain_ = absl::StrCat(set["spec"]["serviceName"].as<std::string>(), ".",
                            set["metadata"]["namespace"].as<std::string>(), ".svc");
  const YAML::Node pod = set["spec"]["template"]["spec"];
  const YAML::Node container = pod["containers"][0];
  const int fs_group = pod["securityContext"]["fsGroup"].as<int>(0);
  std::vector<int> container_ports;
  for (const auto& p : container["ports"]) container_ports.push_back(p["containerPort"].as<int>());

  std::set<uint16_t> taken;
  for (int i = 0; i < set["spec"]["replicas"].as<int>(); ++i) {
    Member m;
    m.pod = absl::StrCat(set["metadata"]["name"].as<std::string>(), "-", i);
    for (int port : container_ports) {
      uint16_t picked;
      do picked = PickFreeLoopbackPort();
      while (!taken.insert(picked).second);
      m.ports[port] = picked;
    }
    members_.push_back(std::move(m));
  }

  for (size_t i = 0; i < members_.size(); ++i) {
    Member& m = members_[i];
    const std::string root = absl::StrCat(dir, "/", m.pod);
    std::filesystem::create_directories(root);
    std::vector<YAML::Node> volumes;
    for (const auto& v : pod["volumes"]) volumes.push_back(v);
    for (const auto& claim : set["spec"]["volumeClaimTemplates"])
      volumes.push_back(claim["metadata"]);
    for (const YAML::Node& v : volumes) {
      const std::string name = v["name"].as<std::string>();
      const std::string folder = root + "/" + name;
      ::mkdir(folder.c_str(), 0755);
      m.volumes[name] = folder;
      if (v["secret"]) {
        absl::Status filled = FillSecret(
            secrets + "/" + v["secret"]["secretName"].as<std::string>(), folder, fs_group);
        if (!filled.ok()) return filled;
      }
    }

    const std::string command = container["command"][0].as<std::string>();
    m.argv = {absl::StartsWith(command, "/") ? command : "/usr/bin/" + command};
    for (const auto& arg : container["args"]) {
      std::string a = absl::StrReplaceAll(arg.as<std::string>(), {{"$(POD_NAME)", m.pod}});
      for (const auto& [port, picked] : m.ports) {
        a = absl::StrReplaceAll(a, {{absl::StrCat("0.0.0.0:", port), Address(i, port)}});
      }
      a = MapAddresses(a);
      const size_t eq = a.find('=');
      if (eq != std::string::npos && absl::StartsWith(a.substr(eq + 1), "/")) {
        absl::StatusOr<std::string> path = HostPath(container, a.substr(eq + 1), m.volumes);
        if (!path.ok()) return path.status();
        a = a.substr(0, eq + 1) + *path;
      }
      if (absl::StrContains(a, "0.0.0.0") || absl::StrContains(a, "." + subdomain_)) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot move ", arg.as<std::string>(), " to loopback: ", a));
      }
      m.argv.push_back(a);
    }
  }
  for (Member& m : members_) {
    absl::StatusOr<std::unique_ptr<Process>> process =
        Process::Start(m.argv, absl::StrCat(dir, "/", m.pod, ".log"));
    if (!process.ok()) return process.status();
    m.process = *std::move(process);
  }

  // The kubelet's readinessProbe, as it would ask it (plain HTTP GET).
  const YAML::Node probe = container["readinessProbe"]["httpGet"];
  if (!probe.IsMap()) return absl::InvalidArgumentError("etcd has no httpGet readinessProbe");
  const std::string port_name = probe["port"].as<std::string>();
  const YAML::Node named = Named(container["ports"], port_name);
  const int probe_port = named.IsMap() ? named["containerPort"].as<int>() : probe["port"].as<int>();
  const bool ready = WaitFor(
      [&] {
        for (int i = 0; i < size(); ++i) {
          const HttpResult r = HttpGet(
              absl::StrCat("http://", Address(i, probe_port), probe["path"].as<std::string>()));
          if (r.status != 200) return false;
        }
        return true;
      },
      absl::Seconds(20), absl::Milliseconds(100));
  if (ready) return absl::OkStatus();
  std::string logs;
  for (const Member& m : members_) {
    absl::StrAppend(&logs, "\n--- ", m.pod, ":\n", ReadFileOrEmpty(m.process->log_path()));
  }
  return absl::DeadlineExceededError(absl::StrCat("etcd.yaml's members not ready in 20 s", logs));
}

EtcdManifestCluster::~EtcdManifestCluster() {
  for (Member& m : members_) {
    if (m.process == nullptr) continue;
    m.process->Stop(absl::Seconds(5));
    (void)m.process->CheckExit();  // etcd's exit status on SIGTERM is not ours to judge
  }
  // Each member preallocates a 64 MB write-ahead log: the data goes, logs stay.
  for (const Member& m : members_) {
    for (const auto& [name, folder] : m.volumes) {
      std::error_code ignored;
      std::filesystem::remove_all(folder, ignored);
    }
  }
}

std::string EtcdManifestCluster::Address(int i, int port) const {
  const auto found = members_[i].ports.find(port);
  if (found == members_[i].ports.end()) return "";
  return absl::StrCat("127.0.0.1:", found->second);
}

std::string EtcdManifestCluster::MapAddresses(const std::string& text) const {
  std::vector<std::pair<std::string, std::string>> replacements;
  for (size_t i = 0; i < members_.size(); ++i) {
    for (const auto& [port, picked] : members_[i].ports) {
      replacements.push_back(
          {absl::StrCat(Dns(members_[i]), ":", port), absl::StrCat("127.0.0.1:", picked)});
    }
  }
  return absl::StrReplaceAll(text, replacements);
}

}  // namespace palisade::testing
