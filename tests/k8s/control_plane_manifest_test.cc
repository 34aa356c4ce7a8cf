// deploy/kubernetes/control-plane.yaml's self-managed CA shared by replicas
// on etcd (issue 14, item 7), checked without a cluster: the manifest itself
// (no plug-in CA; the KEK reaches palisade-control only through a
// memory-backed emptyDir that an init container fills, mode 0400; one Secret
// name in manifest, make-certs.sh and README), then the pod run for real on
// loopback: make-certs.sh's KEK laid out as a Secret volume under fsGroup
// (0440), the init container's exact command, and two palisade-control
// replicas with exactly the manifest's flags (only addresses and paths moved
// to loopback and temporary folders) on a real three-member etcd started
// from etcd.yaml's own args with make-certs.sh's certificates: mutual TLS to
// clients and between members, a client without a certificate refused, and
// palisade-control's etcd client key copied by its own init container. Both
// replicas serve one root; the README's rollover command through one replica
// reaches the other; mesh-namespace.sh reads the bundle where the manifest
// keeps it, and that bundle verifies both replicas' identity ports (a pod's
// first contact).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/k8s/etcd_manifest_cluster.h"
#include "tests/util/control_process.h"
#include "tests/util/fake_issuer.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_jwt.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kManifest[] = "deploy/kubernetes/control-plane.yaml";
constexpr char kEtcdManifest[] = "deploy/kubernetes/etcd.yaml";
constexpr char kMakeCerts[] = "deploy/kubernetes/make-certs.sh";
constexpr char kMeshNamespace[] = "deploy/kubernetes/mesh-namespace.sh";
constexpr char kReadme[] = "README.md";

// --name=value -> {name, value}; a bare --name has an empty value.
std::pair<std::string, std::string> SplitFlag(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos) return {arg, ""};
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

std::vector<std::string> Strings(const YAML::Node& list) {
  std::vector<std::string> out;
  for (const auto& item : list) out.push_back(item.as<std::string>());
  return out;
}

YAML::Node Named(const YAML::Node& list, const std::string& name) {
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item;
  }
  return YAML::Node();
}

// The README's command lines (continuation lines joined) that contain `needle`.
std::vector<std::string> ReadmeLines(const std::string& needle) {
  std::vector<std::string> out;
  std::string joined;
  for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(kReadme), '\n')) {
    joined += std::string(line);
    if (absl::EndsWith(line, "\\")) {
      joined.pop_back();
      continue;
    }
    if (absl::StrContains(joined, needle)) out.push_back(joined);
    joined.clear();
  }
  return out;
}

// `pem` as mesh-namespace.sh puts it in a ConfigMap's literal block.
std::string Indented(const std::string& pem) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(pem, '\n', absl::SkipEmpty())) {
    absl::StrAppend(&out, "    ", line, "\n");
  }
  return out;
}

class ControlPlaneManifestTest : public ::testing::Test {
 public:
  void SetUp() override {
    for (const YAML::Node& doc : YAML::LoadAllFromFile(kManifest)) {
      if (doc["kind"] && doc["kind"].as<std::string>() == "Deployment" &&
          doc["metadata"]["name"].as<std::string>() == "palisade-control") {
        deployment_.reset(doc);
      }
    }
    ASSERT_TRUE(deployment_.IsMap()) << "no Deployment palisade-control in " << kManifest;
    pod_.reset(deployment_["spec"]["template"]["spec"]);
    control_.reset(Named(pod_["containers"], "palisade-control"));
    ASSERT_TRUE(control_.IsMap()) << "no container palisade-control";
    args_ = Strings(control_["args"]);
    ASSERT_FALSE(args_.empty());
    ASSERT_EQ(args_[0], "serve");
  }

  std::string Flag(const std::string& name) const {
    for (const std::string& arg : args_) {
      auto [n, v] = SplitFlag(arg);
      if (n == "--" + name) return v;
    }
    return "";
  }
  YAML::Node Volume(const std::string& name) const { return Named(pod_["volumes"], name); }
  // The mount of `container` that holds `path` (longest mountPath prefix).
  static YAML::Node MountFor(const YAML::Node& container, const std::string& path) {
    YAML::Node best;
    size_t best_length = 0;
    for (const auto& m : container["volumeMounts"]) {
      const std::string at = m["mountPath"].as<std::string>();
      if ((path == at || absl::StartsWith(path, at + "/")) && at.size() > best_length) {
        best.reset(m);  // rebinds; operator= would write into the node it holds
        best_length = at.size();
      }
    }
    return best;
  }
  // The init container that writes `path`, a file palisade-control reads.
  YAML::Node InitWriting(const std::string& path) const {
    for (const auto& c : pod_["initContainers"]) {
      for (const std::string& word : Strings(c["command"])) {
        if (!path.empty() && word == path) return c;
      }
    }
    return YAML::Node();
  }
  YAML::Node KekInit() const { return InitWriting(Flag("ca_kek_file")); }
  int RunAsUser() const { return pod_["securityContext"]["runAsUser"].as<int>(); }
  const YAML::Node& control() const { return control_; }
  const YAML::Node& pod() const { return pod_; }

 protected:
  YAML::Node deployment_, pod_, control_;
  std::vector<std::string> args_;
};

TEST_F(ControlPlaneManifestTest, SelfManagedCaOnEtcdWithoutPlugInFlags) {
  for (const std::string& arg : args_) {
    EXPECT_FALSE(absl::StartsWith(arg, "--plugin_")) << arg;
  }
  EXPECT_EQ(Flag("store"), "etcd");
  EXPECT_FALSE(Flag("etcd_endpoints").empty());
  EXPECT_FALSE(Flag("ca_kek_file").empty()) << "a self-managed CA on etcd needs --ca_kek_file";
  EXPECT_EQ(deployment_["spec"]["replicas"].as<int>(), 3);
}

// The key file `flag` names reaches palisade-control only as an init
// container's 0400 copy on a memory-backed emptyDir, never as the Secret.
void ExpectKeyCopiedIntoMemory(const ControlPlaneManifestTest& t, const std::string& flag) {
  SCOPED_TRACE("--" + flag);
  const std::string key = t.Flag(flag);
  ASSERT_FALSE(key.empty());
  const YAML::Node mount = t.MountFor(t.control(), key);
  ASSERT_TRUE(mount.IsMap()) << key << " is on no volume of palisade-control";
  EXPECT_TRUE(mount["readOnly"] && mount["readOnly"].as<bool>());
  const YAML::Node volume = t.Volume(mount["name"].as<std::string>());
  ASSERT_TRUE(volume["emptyDir"]) << "the key must be on an emptyDir, not " << volume;
  EXPECT_EQ(volume["emptyDir"]["medium"].as<std::string>(""), "Memory");
  const YAML::Node init = t.InitWriting(key);
  ASSERT_TRUE(init.IsMap()) << "no init container writes " << key;
  const std::vector<std::string> command = Strings(init["command"]);
  ASSERT_EQ(command.size(), 5u);
  EXPECT_EQ(command[0], "install");
  EXPECT_EQ(command[1], "-m");
  EXPECT_EQ(command[2], "0400");
  const YAML::Node source = t.MountFor(init, command[3]);
  ASSERT_TRUE(source.IsMap());
  const YAML::Node secret = t.Volume(source["name"].as<std::string>())["secret"];
  ASSERT_TRUE(secret) << command[3] << " is not on a Secret volume";
  EXPECT_EQ(secret["defaultMode"].as<std::string>(), "0400");
  // palisade-control mounts no volume holding the Secret's key itself.
  for (const auto& m : t.control()["volumeMounts"]) {
    const YAML::Node mounted = t.Volume(m["name"].as<std::string>())["secret"];
    if (!mounted ||
        mounted["secretName"].as<std::string>() != secret["secretName"].as<std::string>()) {
      continue;
    }
    ASSERT_TRUE(mounted["items"]) << "palisade-control mounts all of Secret "
                                  << secret["secretName"];
    for (const auto& item : mounted["items"]) {
      EXPECT_NE(item["key"].as<std::string>(), secret["items"][0]["key"].as<std::string>())
          << "palisade-control mounts the key's Secret item itself";
    }
  }
  EXPECT_EQ(t.MountFor(init, command[4])["name"].as<std::string>(),
            mount["name"].as<std::string>());
  // The same image, so `install` is the one the pod has; the same user.
  EXPECT_EQ(init["image"].as<std::string>(), t.control()["image"].as<std::string>());
  EXPECT_FALSE(init["securityContext"]["runAsUser"]) << "the pod's user (1337) must write it";
}

TEST_F(ControlPlaneManifestTest, KekComesFromMemoryThroughAnInitContainerWithMode0400) {
  ExpectKeyCopiedIntoMemory(*this, "ca_kek_file");
}

// etcd.yaml requires a client certificate: palisade-control presents one
// from Secret palisade-etcd-client-tls and checks etcd's against its CA.
TEST_F(ControlPlaneManifestTest, TalksToEtcdOverMutualTlsWithTheKeyCopiedIntoMemory) {
  for (const std::string flag : {"etcd_ca_file", "etcd_cert_file", "etcd_key_file"}) {
    EXPECT_FALSE(Flag(flag).empty()) << "control-plane.yaml: no --" << flag;
  }
  EXPECT_TRUE(Flag("etcd_server_name").empty()) << "each member's own name is the one to check";
  for (const std::string flag : {"etcd_ca_file", "etcd_cert_file"}) {
    const YAML::Node mount = MountFor(control_, Flag(flag));
    ASSERT_TRUE(mount.IsMap()) << "--" << flag << " is on no volume";
    EXPECT_EQ(Volume(mount["name"].as<std::string>())["secret"]["secretName"].as<std::string>(""),
              "palisade-etcd-client-tls")
        << "--" << flag;
  }
  ExpectKeyCopiedIntoMemory(*this, "etcd_key_file");
}

// One Secret name and key in the manifest, make-certs.sh's file and the
// README's one command that creates it.
TEST_F(ControlPlaneManifestTest, KekSecretNameAgreesWithMakeCertsAndReadme) {
  const YAML::Node init = KekInit();
  ASSERT_TRUE(init.IsMap()) << "no init container writes --ca_kek_file";
  ASSERT_EQ(init["command"].size(), 5u);
  const std::string source = Strings(init["command"])[3];
  const YAML::Node secret = Volume(MountFor(init, source)["name"].as<std::string>())["secret"];
  ASSERT_TRUE(secret);
  const std::string name = secret["secretName"].as<std::string>();
  const std::string key = secret["items"][0]["key"].as<std::string>();
  EXPECT_TRUE(absl::EndsWith(source, "/" + secret["items"][0]["path"].as<std::string>()));

  const std::vector<std::string> create =
      ReadmeLines("create secret generic " + name + " --from-file=" + key + "=\"$certs/ca-kek\"");
  EXPECT_EQ(create.size(), 1u) << "README: one command creates Secret " << name << " (key " << key
                               << ") from make-certs.sh's ca-kek";
  EXPECT_THAT(ReadFileOrEmpty(kMakeCerts), HasSubstr("Secret " + name + ", key " + key));
}

// Every Secret that etcd's TLS needs (etcd.yaml's members, palisade-control's
// client) is a folder make-certs.sh writes and one README command creates.
TEST_F(ControlPlaneManifestTest, EtcdSecretsAreMakeCertsFoldersTheReadmeCreates) {
  std::set<std::string> names;
  for (const YAML::Node& doc : YAML::LoadAllFromFile(kEtcdManifest)) {
    if (!doc["kind"] || doc["kind"].as<std::string>() != "StatefulSet") continue;
    for (const auto& v : doc["spec"]["template"]["spec"]["volumes"]) {
      if (v["secret"]) names.insert(v["secret"]["secretName"].as<std::string>());
    }
  }
  EXPECT_EQ(names.size(), 1u) << "etcd.yaml: one Secret with the members' certificates";
  const YAML::Node key_mount = MountFor(control_, Flag("etcd_cert_file"));
  ASSERT_TRUE(key_mount.IsMap()) << "--etcd_cert_file is on no volume";
  names.insert(
      Volume(key_mount["name"].as<std::string>())["secret"]["secretName"].as<std::string>(""));
  for (const std::string& name : names) {
    ASSERT_FALSE(name.empty());
    EXPECT_EQ(ReadmeLines("create secret generic " + name + " --from-file=\"$certs/" + name + "\"")
                  .size(),
              1u)
        << "README: one command creates Secret " << name << " from make-certs.sh's folder";
    EXPECT_THAT(ReadFileOrEmpty(kMakeCerts), HasSubstr(name + "/"));
  }
}

// Without a bundle file and without a control plane to read it from:
// refused, saying where it looked.
TEST(MeshNamespaceTest, RefusesWhenTheControlPlaneCannotBeRead) {
  const CommandResult r =
      RunCommand({"env", "KUBECTL=false", kMeshNamespace, "shop"}, absl::Seconds(30));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("cannot read the trust bundle from deploy/palisade-control"));
  EXPECT_THAT(r.output, Not(HasSubstr("kind: ConfigMap")));
}

// The pod, for real on loopback.
class ControlPlanePodTest : public ControlPlaneManifestTest {
 public:
  void SetUp() override {
    ControlPlaneManifestTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(KekInit().IsMap()) << "no init container writes --ca_kek_file";
    ASSERT_EQ(KekInit()["command"].size(), 5u);
    dir_ = MakeTempDir("k8s-control-plane");
    // make-certs.sh as the README runs it: the KEK, the webhook's and etcd's
    // certificates; etcd as etcd.yaml runs it, on those certificates.
    const CommandResult certs = RunCommand({kMakeCerts, dir_ + "/certs"});
    ASSERT_EQ(certs.exit_code, 0) << certs.output;
    ASSERT_OK_AND_ASSIGN(
        etcd_, EtcdManifestCluster::Start(kEtcdManifest, dir_ + "/certs", dir_ + "/etcd"));
    issuer_ = std::make_unique<FakeIssuer>(dir_, jwt_.JwksJson());
    // As root the init container runs as the pod's user, who must reach the
    // pod's folders: those live under /tmp, open to all, not $TEST_TMPDIR.
    if (::geteuid() == 0) {
      char base[] = "/tmp/palisade-k8s-pod-XXXXXX";
      ASSERT_NE(::mkdtemp(base), nullptr);
      ASSERT_EQ(::chmod(base, 0755), 0);
      pods_ = base;
    } else {
      pods_ = MakeTempDir("pods");
    }
  }
  void TearDown() override {
    if (!pods_.empty() && absl::StartsWith(pods_, "/tmp/palisade-k8s-pod-")) {
      std::error_code ignored;
      std::filesystem::remove_all(pods_, ignored);
    }
  }

  // A folder per volume of the pod, filled as the kubelet would.
  std::map<std::string, std::string> PodVolumes(const std::string& pod) {
    std::map<std::string, std::string> dirs;
    for (const auto& v : pod_["volumes"]) {
      const std::string name = v["name"].as<std::string>();
      const std::string d = pods_ + "/" + pod + "-" + name;
      EXPECT_EQ(::mkdir(d.c_str(), 0755), 0) << d;
      dirs[name] = d;
    }
    const std::string certs = dir_ + "/certs";
    for (const auto& v : pod_["volumes"]) {
      const std::string d = dirs[v["name"].as<std::string>()];
      if (v["secret"] && v["secret"]["secretName"].as<std::string>() == "palisade-webhook-tls") {
        EXPECT_TRUE(WriteFile(d + "/tls.crt", ReadFileOrEmpty(certs + "/tls.crt")));
        EXPECT_TRUE(WriteFile(d + "/tls.key", ReadFileOrEmpty(certs + "/tls.key")));
      } else if (v["secret"] && std::filesystem::is_directory(
                                    certs + "/" + v["secret"]["secretName"].as<std::string>())) {
        // A Secret made from make-certs.sh's folder of that name (README):
        // its items, root:fsGroup 0440.
        const std::string from = certs + "/" + v["secret"]["secretName"].as<std::string>();
        for (const auto& item : v["secret"]["items"]) {
          const std::string file = d + "/" + item["path"].as<std::string>();
          EXPECT_TRUE(WriteFile(file, ReadFileOrEmpty(from + "/" + item["key"].as<std::string>())))
              << file;
          EXPECT_EQ(::chmod(file.c_str(), 0440), 0);
          if (::geteuid() == 0) EXPECT_EQ(::chown(file.c_str(), 0, FsGroup()), 0);
        }
      } else if (v["secret"]) {
        // The KEK Secret: a Secret volume under fsGroup is root:fsGroup 0440.
        for (const auto& item : v["secret"]["items"]) {
          const std::string file = d + "/" + item["path"].as<std::string>();
          EXPECT_TRUE(WriteFile(file, ReadFileOrEmpty(certs + "/ca-kek")));
          EXPECT_EQ(::chmod(file.c_str(), 0440), 0);
          if (::geteuid() == 0) EXPECT_EQ(::chown(file.c_str(), 0, FsGroup()), 0);
        }
      } else if (v["projected"]) {
        // The service-account token and the cluster CA: here the fake issuer's.
        EXPECT_TRUE(WriteFile(d + "/token", "projected-token\n"));
        EXPECT_TRUE(WriteFile(d + "/ca.crt", ReadFileOrEmpty(issuer_->ca_file())));
      } else if (v["emptyDir"] && ::geteuid() == 0) {
        // fsGroup: the pod's group owns it, setgid; 0777 as the kubelet makes it.
        EXPECT_EQ(::chown(d.c_str(), 0, FsGroup()), 0);
        EXPECT_EQ(::chmod(d.c_str(), 02777), 0);
      }
    }
    return dirs;
  }
  int FsGroup() const { return pod_["securityContext"]["fsGroup"].as<int>(); }

  // `path` inside `container` -> the same file in the pod's folders.
  static std::string HostPath(const YAML::Node& container, const std::string& path,
                              const std::map<std::string, std::string>& volumes) {
    const YAML::Node m = MountFor(container, path);
    if (!m.IsMap()) {
      ADD_FAILURE() << path << " is on no volume of " << container["name"];
      return path;
    }
    return volumes.at(m["name"].as<std::string>()) +
           path.substr(m["mountPath"].as<std::string>().size());
  }

  // An init container's command, run for real, as the pod's user when this
  // test may switch users.
  CommandResult RunInit(const YAML::Node& init, const std::map<std::string, std::string>& volumes) {
    std::vector<std::string> argv;
    if (::geteuid() == 0) {
      argv = {"setpriv", "--reuid=" + std::to_string(RunAsUser()),
              "--regid=" + std::to_string(RunAsUser()), "--groups=" + std::to_string(FsGroup())};
    }
    for (const std::string& word : Strings(init["command"])) {
      argv.push_back(absl::StartsWith(word, "/") ? HostPath(init, word, volumes) : word);
    }
    return RunCommand(argv, absl::Seconds(30));
  }

  // palisade-control's flags from the manifest: paths moved into the pod's
  // folders, listening addresses to loopback port 0, etcd and the issuer to
  // the test's. Nothing else changes.
  std::vector<std::string> ReplicaFlags(const std::map<std::string, std::string>& volumes) {
    std::vector<std::string> out;
    for (size_t i = 1; i < args_.size(); ++i) {
      auto [name, value] = SplitFlag(args_[i]);
      if (name == "--listen" || name == "--admin" || name == "--webhook_listen" ||
          name == "--public_listen") {
        value = "127.0.0.1:0";
      } else if (name == "--etcd_endpoints") {
        value = etcd_->MapAddresses(value);
      } else if (name == "--sa_issuer") {
        value = issuer_->issuer();
      } else if (absl::StartsWith(value, "/")) {
        value = HostPath(control_, value, volumes);
      }
      out.push_back(value.empty() && !absl::StrContains(args_[i], "=") ? name : name + "=" + value);
    }
    return out;
  }

  struct Pod {
    std::map<std::string, std::string> volumes;
    std::unique_ptr<ControlProcess> control;
  };
  // A pod: its volumes, the init containers, then palisade-control.
  Pod StartPod(const std::string& name) {
    Pod pod;
    pod.volumes = PodVolumes(name);
    for (const auto& container : pod_["initContainers"]) {
      const CommandResult init = RunInit(container, pod.volumes);
      EXPECT_EQ(init.exit_code, 0) << init.command << ": " << init.output;
    }
    // ControlProcess keeps its state in <dir>/state, which is where the
    // manifest's --state_dir lands in the state volume's folder.
    const std::string state = HostPath(control_, Flag("state_dir"), pod.volumes);
    EXPECT_EQ(
        state,
        pod.volumes.at(MountFor(control_, Flag("state_dir"))["name"].as<std::string>()) + "/state");
    auto control = ControlProcess::Start(state.substr(0, state.size() - strlen("/state")),
                                         ReplicaFlags(pod.volumes));
    EXPECT_OK(control.status());
    if (control.ok()) pod.control = *std::move(control);
    return pod;
  }

  // Whether a first contact trusting `bundle_pem` (what a meshed pod's
  // palisade-root-bundle holds) verifies the identity port of `control`.
  bool FirstContactVerifies(const ControlProcess& control, const std::string& bundle_pem) {
    const std::string bundle = dir_ + "/first-contact.pem";
    EXPECT_TRUE(WriteFile(bundle, bundle_pem));
    const CommandResult r =
        RunCommand({"openssl", "s_client", "-connect", control.identity_address(), "-CAfile",
                    bundle, "-verify_return_error", "-brief"},
                   absl::Seconds(20));
    if (!absl::StrContains(r.output, "Verification: OK")) {
      std::cout << r.command << ":\n" << r.output << "\n";
      return false;
    }
    return true;
  }

  static std::string Phase(const ControlProcess& control) {
    const nlohmann::json state = control.State();
    if (!state.is_object() || !state.contains("rollover")) return "";
    return state["rollover"].value("phase", "");
  }

  // mesh-namespace.sh without a bundle file, its kubectl exec served from
  // `pod`'s folders: the bundle where the manifest's --state_dir keeps it.
  CommandResult MeshNamespace(const Pod& pod) {
    const YAML::Node state = MountFor(control_, Flag("state_dir"));
    const std::string at = state["mountPath"].as<std::string>();
    const std::string shim = dir_ + "/kubectl";
    EXPECT_TRUE(WriteFile(
        shim, absl::StrCat("#!/bin/sh\n# kubectl exec stand-in: the command after --, with the "
                           "pod's state volume mapped to the test's folder.\n"
                           "echo \"$*\" >",
                           dir_, "/kubectl.args\n",
                           "while [ \"$1\" != -- ]; do shift; done; shift\n"
                           "n=$#; while [ $n -gt 0 ]; do a=$1; shift; n=$((n-1))\n"
                           "  case $a in ",
                           at, "/*) a=", pod.volumes.at(state["name"].as<std::string>()), "/${a#",
                           at, "/};; esac; set -- \"$@\" \"$a\"; done\nexec \"$@\"\n")));
    EXPECT_EQ(::chmod(shim.c_str(), 0755), 0);
    return RunCommand({"env", "KUBECTL=" + shim, kMeshNamespace, "shop"}, absl::Seconds(30));
  }

  std::string dir_;
  TestJwtIssuer jwt_;
  std::unique_ptr<EtcdManifestCluster> etcd_;
  std::unique_ptr<FakeIssuer> issuer_;
  std::string pods_;  // one folder per pod volume
};

// Why the init containers: palisade-control refuses the key `flag` names as
// the Secret volume presents it (0440); the init container's copy is 0400,
// the pod user's. The pod's other init containers have run.
void ExpectInitContainerMakesKeyAcceptable(ControlPlanePodTest& t, const std::string& pod,
                                           const std::string& flag, const std::string& refusal) {
  const std::map<std::string, std::string> volumes = t.PodVolumes(pod);
  const std::string key = t.Flag(flag);
  const YAML::Node init = t.InitWriting(key);
  ASSERT_TRUE(init.IsMap()) << "no init container writes --" << flag;
  for (const auto& other : t.pod()["initContainers"]) {
    if (other["name"].as<std::string>() == init["name"].as<std::string>()) continue;
    const CommandResult r = t.RunInit(other, volumes);
    ASSERT_EQ(r.exit_code, 0) << r.command << ": " << r.output;
  }
  const std::vector<std::string> command = Strings(init["command"]);
  const std::string secret_file = t.HostPath(init, command[command.size() - 2], volumes);

  std::vector<std::string> flags = t.ReplicaFlags(volumes);
  for (std::string& f : flags) {
    if (absl::StartsWith(f, "--" + flag + "=")) f = "--" + flag + "=" + secret_file;
  }
  auto refused = ControlProcess::Start(MakeTempDir("refused-control"), flags);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr(refusal));

  const CommandResult copied = t.RunInit(init, volumes);
  ASSERT_EQ(copied.exit_code, 0) << copied.command << ": " << copied.output;
  struct stat st;
  const std::string copy = t.HostPath(t.control(), key, volumes);
  ASSERT_EQ(::stat(copy.c_str(), &st), 0) << copy;
  EXPECT_EQ(st.st_mode & 07777, 0400u);
  EXPECT_EQ(st.st_uid, ::geteuid() == 0 ? static_cast<uid_t>(t.RunAsUser()) : ::geteuid());
  std::cout << "--" << flag << ": Secret volume file mode 0440 refused; init container's copy mode "
            << std::oct << (st.st_mode & 07777) << std::dec << " uid " << st.st_uid << "\n";
}

TEST_F(ControlPlanePodTest, InitContainerMakesTheSecretVolumesKekAcceptable) {
  ExpectInitContainerMakesKeyAcceptable(*this, "refused-kek", "ca_kek_file",
                                        "lets a group or other users at the key-encryption key");
}

TEST_F(ControlPlanePodTest, InitContainerMakesTheSecretVolumesEtcdClientKeyAcceptable) {
  ExpectInitContainerMakesKeyAcceptable(*this, "refused-etcd-key", "etcd_key_file",
                                        "lets a group or other users at etcd's client key");
}

// etcd as etcd.yaml runs it: mutual TLS on the client and the peer port. The
// refusals can fail: the same requests with make-certs.sh's certificates pass.
TEST_F(ControlPlanePodTest, EtcdFromItsManifestRefusesClientsWithoutACertificate) {
  const std::string certs = dir_ + "/certs";
  const std::string client = certs + "/palisade-etcd-client-tls";
  const std::string member = certs + "/palisade-etcd-tls";
  auto etcdctl = [&](const std::string& endpoint, const std::vector<std::string>& tls) {
    std::vector<std::string> argv = {"/usr/bin/env",         "ETCDCTL_API=3",
                                     "/usr/bin/etcdctl",     "--endpoints=" + endpoint,
                                     "--command-timeout=3s", "--dial-timeout=3s"};
    argv.insert(argv.end(), tls.begin(), tls.end());
    argv.insert(argv.end(), {"put", "/k8s-test", "x"});
    return RunCommand(argv, absl::Seconds(20));
  };
  const std::string endpoint = etcd_->Address(0, 2379);
  const CommandResult with_cert =
      etcdctl(endpoint, {"--cacert=" + client + "/ca.crt", "--cert=" + client + "/tls.crt",
                         "--key=" + client + "/tls.key"});
  EXPECT_EQ(with_cert.exit_code, 0) << with_cert.command << ": " << with_cert.output;
  const CommandResult no_cert = etcdctl(endpoint, {"--cacert=" + client + "/ca.crt"});
  EXPECT_NE(no_cert.exit_code, 0) << "etcd accepted a client without a certificate: "
                                  << no_cert.command << ": " << no_cert.output;
  const CommandResult plaintext = etcdctl("http://" + endpoint, {});
  EXPECT_NE(plaintext.exit_code, 0) << "etcd accepted a plaintext client: " << plaintext.command;
  // Another CA's client certificate (the webhook's) opens nothing either.
  const CommandResult foreign =
      etcdctl(endpoint, {"--cacert=" + client + "/ca.crt", "--cert=" + certs + "/tls.crt",
                         "--key=" + certs + "/tls.key"});
  EXPECT_NE(foreign.exit_code, 0) << "etcd accepted the webhook's certificate: " << foreign.output;

  // The peer port: a member's certificate is let in, no certificate is not.
  auto peer = [&](const std::vector<std::string>& tls) {
    std::vector<std::string> argv = {
        "curl", "-sS",          "--http1.1", "--max-time",      "5", "-o", "/dev/null",
        "-w",   "%{http_code}", "--cacert",  member + "/ca.crt"};
    argv.insert(argv.end(), tls.begin(), tls.end());
    argv.push_back("https://" + etcd_->Address(1, 2380) + "/members");
    return RunCommand(argv, absl::Seconds(20));
  };
  const CommandResult as_member =
      peer({"--cert", member + "/palisade-etcd-0.crt", "--key", member + "/palisade-etcd-0.key"});
  EXPECT_EQ(as_member.output, "200") << as_member.command << ": " << as_member.output;
  const CommandResult anonymous = peer({});
  EXPECT_NE(anonymous.exit_code, 0)
      << "a member's peer port let in a client without a certificate: " << anonymous.output;
  std::cout << "etcd.yaml's members: with client certificate exit " << with_cert.exit_code
            << ", without " << no_cert.exit_code << ", plaintext " << plaintext.exit_code
            << ", webhook's certificate " << foreign.exit_code << "; peer port with a member's "
            << "certificate HTTP " << as_member.output << ", without curl exit "
            << anonymous.exit_code << "\n";
}

TEST_F(ControlPlanePodTest, TwoReplicasShareOneRootAndRollOverTogether) {
  Pod one = StartPod("replica-1");
  Pod two = StartPod("replica-2");
  ASSERT_TRUE(one.control && two.control);
  const std::vector<std::string> roots = one.control->RootFingerprints();
  ASSERT_EQ(roots.size(), 1u) << one.control->State().dump(2);
  EXPECT_EQ(two.control->RootFingerprints(), roots);
  EXPECT_EQ(ReadFileOrEmpty(one.control->bundle_file()),
            ReadFileOrEmpty(two.control->bundle_file()));

  // What a meshed namespace's proxies trust at first contact: replica 2's bundle.
  const CommandResult before = MeshNamespace(two);
  ASSERT_EQ(before.exit_code, 0) << before.output;
  EXPECT_THAT(before.output, HasSubstr("name: palisade-root-bundle"));
  const std::string first_root = ReadFileOrEmpty(two.control->bundle_file());
  ASSERT_THAT(first_root, HasSubstr("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(before.output, HasSubstr(Indented(first_root)));
  EXPECT_TRUE(FirstContactVerifies(*one.control, first_root));
  EXPECT_TRUE(FirstContactVerifies(*two.control, first_root));
  // The check can fail: another CA's root does not verify it.
  EXPECT_FALSE(FirstContactVerifies(*two.control, ReadFileOrEmpty(dir_ + "/certs/webhook-ca.crt")));
  EXPECT_THAT(ReadFileOrEmpty(dir_ + "/kubectl.args"),
              HasSubstr("-n palisade exec deploy/palisade-control -c palisade-control --"));

  // The README's rollover command, run in replica 1's pod.
  const std::vector<std::string> lines = ReadmeLines("palisade-control rollover start");
  ASSERT_EQ(lines.size(), 1u) << "README: one `palisade-control rollover start` command";
  const std::string after_dashes = lines[0].substr(lines[0].find(" -- ") + 4);
  std::vector<std::string> argv;
  for (absl::string_view word : absl::StrSplit(after_dashes, ' ', absl::SkipWhitespace())) {
    if (absl::StartsWith(word, "#")) break;
    auto [name, value] = SplitFlag(std::string(word));
    argv.push_back(absl::StartsWith(value, "/")
                       ? name + "=" + HostPath(control_, value, one.volumes)
                       : std::string(word));
  }
  ASSERT_GE(argv.size(), 3u) << lines[0];
  ASSERT_EQ(argv[0], "palisade-control");
  argv[0] = kControlBinary;
  argv.push_back("--admin=" + one.control->admin_address());
  const absl::Time start = absl::Now();
  const CommandResult started = RunCommand(argv, absl::Seconds(30));
  ASSERT_EQ(started.exit_code, 0) << started.command << ": " << started.output;

  // Replica 2 follows: both roots in its bundle and its file, the rollover under way.
  const bool followed = WaitFor(
      [&] { return two.control->RootFingerprints().size() == 2 && Phase(*two.control) != "idle"; },
      absl::Seconds(30), absl::Milliseconds(100));
  std::cout << "rollover start on replica 1 seen by replica 2 after " << absl::Now() - start
            << ": phase " << Phase(*two.control) << ", roots "
            << two.control->RootFingerprints().size() << "\n";
  ASSERT_TRUE(followed) << two.control->State().dump(2);
  EXPECT_EQ(one.control->RootFingerprints(), two.control->RootFingerprints());
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string pem = ReadFileOrEmpty(two.control->bundle_file());
        size_t n = 0;
        for (size_t at = pem.find("BEGIN CERTIFICATE"); at != std::string::npos;
             at = pem.find("BEGIN CERTIFICATE", at + 1)) {
          ++n;
        }
        return n == 2;
      },
      absl::Seconds(10)));
  const CommandResult status = two.control->Cli({"rollover", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  const nlohmann::json rollover = nlohmann::json::parse(status.output, nullptr, false);
  ASSERT_TRUE(rollover.is_object()) << status.output;
  EXPECT_NE(rollover.value("phase", "idle"), "idle") << status.output;
  EXPECT_THAT(two.control->RootFingerprints(), ::testing::Contains(rollover.value("new_root", "")));

  // Re-run after `rollover start`: new pods now trust both roots.
  const CommandResult during = MeshNamespace(two);
  ASSERT_EQ(during.exit_code, 0) << during.output;
  const std::string both_roots = ReadFileOrEmpty(two.control->bundle_file());
  EXPECT_THAT(during.output, HasSubstr(Indented(both_roots)));
  EXPECT_TRUE(FirstContactVerifies(*one.control, both_roots));
  EXPECT_TRUE(FirstContactVerifies(*two.control, both_roots));
}

}  // namespace
}  // namespace palisade::testing
