// The self-managed CA shared by palisade-control replicas through etcd
// (issue 14): two replicas on a real three-member etcd serve one root, etcd
// holds the CA's private keys only sealed under --ca_kek_file, a wrong KEK or
// a malformed record refuses start naming the key and never overwrites it,
// a bad record arriving later is refused by the running replicas (counted)
// while they keep their CA, and a rollover started through replica 1
// reaches the proxies connected to replica 2.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control/ca/key_seal.h"
#include "identity/keys.h"
#include "tests/integration/identity_stream.h"
#include "tests/util/control_process.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/loopback.h"
#include "tests/util/mesh_fixture.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/replica_view.h"
#include "tests/util/status_matchers.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kTd[] = "example.org";
constexpr char kPrefix[] = "/palisade/example.org/";
constexpr char kCaKey[] = "/palisade/example.org/ca/state";
constexpr char kWorkload[] = "spiffe://example.org/ns/shop/sa/cart";
constexpr char kBackend[] = "spiffe://example.org/ns/shop/sa/backend";
constexpr char kFrontend[] = "spiffe://example.org/ns/shop/sa/frontend";

// One checked echo round trip ("ping") through a proxy listener.
bool RoundTrip(uint16_t port) {
  const int fd = ConnectLoopback(port, absl::Seconds(5));
  if (fd < 0) return false;
  const bool ok = EchoExchange(fd, "ping") == "ping";
  close(fd);
  return ok;
}

// Round trips through `port` on a thread of their own, one every `pace`,
// bounded in count and time, until Stop(): the traffic a rollover must not
// disturb.
class PacedTraffic {
 public:
  PacedTraffic(uint16_t port, absl::Duration pace, int max_connections, absl::Duration limit)
      : thread_([this, port, pace, max_connections, limit] {
          const absl::Time end = absl::Now() + limit;
          while (!stop_.load() && absl::Now() < end && sent_.load() < max_connections) {
            ++sent_;
            if (!RoundTrip(port)) ++failed_;
            absl::SleepFor(pace);
          }
        }) {}
  ~PacedTraffic() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int sent() const { return sent_.load(); }
  int failed() const { return failed_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0}, failed_{0};
  std::thread thread_;  // last: starts once the counters exist
};

// One etcd key as `etcdctl get -w json` reports it (key and value decoded).
struct EtcdKv {
  std::string key;
  std::string value;
  int64_t mod_revision = 0;
};

class ControlEtcdCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("control-etcd-ca");
    ASSERT_OK_AND_ASSIGN(etcd_, EtcdCluster::Start(dir_ + "/etcd"));
    kek_ = std::string(32, '\0');
    for (size_t i = 0; i < kek_.size(); ++i) kek_[i] = static_cast<char>(i * 7 + 1);
    kek_file_ = WriteKek("kek", kek_);
  }

  std::string WriteKek(const std::string& name, const std::string& kek) {
    const std::string path = dir_ + "/" + name;
    WriteFileOrDie(path, kek);
    EXPECT_EQ(::chmod(path.c_str(), 0400), 0);
    return path;
  }

  std::vector<std::string> ReplicaFlags(const std::string& kek_file = "") const {
    return {"--store=etcd", "--etcd_endpoints=" + etcd_->Endpoints(),
            "--ca_kek_file=" + (kek_file.empty() ? kek_file_ : kek_file)};
  }
  std::unique_ptr<ControlProcess> StartReplica(const std::string& name) {
    auto control = ControlProcess::Start(MakeTempDir("control-etcd-ca-" + name), ReplicaFlags());
    EXPECT_OK(control.status());
    return control.ok() ? *std::move(control) : nullptr;
  }
  // `palisade-control serve` that must refuse to start: its result.
  CommandResult RunRefused(const std::vector<std::string>& flags) const {
    std::vector<std::string> argv = {kControlBinary,
                                     "serve",
                                     std::string("--trust_domain=") + kTd,
                                     "--state_dir=" + MakeTempDir("control-etcd-ca-refused"),
                                     "--listen=127.0.0.1:0",
                                     "--admin=127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunCommand(argv, absl::Seconds(60));
  }

  // Every key under the prefix.
  std::vector<EtcdKv> EtcdContents() const {
    const CommandResult r = etcd_->Etcdctl({"get", "--prefix", kPrefix, "-w", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::vector<EtcdKv> out;
    nlohmann::json doc = nlohmann::json::parse(r.output, nullptr, false);
    if (!doc.is_object() || !doc.contains("kvs")) return out;
    for (const auto& kv : doc["kvs"]) {
      EtcdKv e;
      EXPECT_TRUE(absl::Base64Unescape(kv["key"].get<std::string>(), &e.key));
      if (kv.contains("value")) {
        EXPECT_TRUE(absl::Base64Unescape(kv["value"].get<std::string>(), &e.value));
      }
      e.mod_revision = kv["mod_revision"].get<int64_t>();
      out.push_back(std::move(e));
    }
    return out;
  }
  std::optional<EtcdKv> CaRecord() const {
    for (EtcdKv& kv : EtcdContents()) {
      if (kv.key == kCaKey) return kv;
    }
    return std::nullopt;
  }

  // Every proxy holds a leaf under another root than `old_root`, and a
  // bundle of one root: a rollover's end as its proxies see it.
  static bool OnlyOnTheNewRoot(std::initializer_list<ProxyProcess*> proxies,
                               const std::string& old_root) {
    for (ProxyProcess* p : proxies) {
      const nlohmann::json certs = p->Certs();
      if (certs["svid"]["root_fingerprint"] == old_root ||
          certs["trust_bundles"][kTd].size() != 1) {
        return false;
      }
    }
    return true;
  }
  static std::string ActiveRoot(const ControlProcess& control) {
    const nlohmann::json state = control.State();
    if (!state.is_object() || !state.contains("bundle")) return "";
    for (const auto& root : state["bundle"]["roots"]) {
      if (root.value("issuing", false)) return root["fingerprint_sha256"].get<std::string>();
    }
    return "";
  }

  std::string dir_;
  std::unique_ptr<EtcdCluster> etcd_;
  std::string kek_;
  std::string kek_file_;
};

TEST_F(ControlEtcdCaTest, TwoReplicasServeOneRootAndEtcdHoldsNoPrivateKeyInClear) {
  auto r1 = StartReplica("r1");
  auto r2 = StartReplica("r2");
  ASSERT_TRUE(r1 && r2);
  const std::string root = ActiveRoot(*r1);
  ASSERT_FALSE(root.empty()) << r1->State().dump();
  EXPECT_EQ(ActiveRoot(*r2), root) << "two replicas on one etcd made two roots";
  EXPECT_EQ(r2->RootFingerprints(), r1->RootFingerprints());

  // An SVID from each replica, each accepted by the other over mTLS.
  Svid from_r1, from_r2;
  ASSERT_OK_AND_ASSIGN(nlohmann::json t1, r1->CreateJoinToken(kWorkload));
  ASSERT_TRUE(BootstrapWith(*r1, t1["token"], kWorkload, &from_r1).ok());
  ASSERT_OK_AND_ASSIGN(nlohmann::json t2, r2->CreateJoinToken(kWorkload));
  ASSERT_TRUE(BootstrapWith(*r2, t2["token"], kWorkload, &from_r2).ok());
  EXPECT_TRUE(RenewsOverMtls(*r2, from_r1, kWorkload)) << r2->process().Output();
  EXPECT_TRUE(RenewsOverMtls(*r1, from_r2, kWorkload)) << r1->process().Output();
  // No key files on the replicas' disks either: the record is the only copy.
  struct stat st;
  EXPECT_NE(::stat((r1->state_dir() + "/ca").c_str(), &st), 0);

  // Every key under the prefix: no private key as PEM, DER or raw scalar.
  // The keys are found by opening the record with the KEK, as a replica does.
  const std::vector<EtcdKv> contents = EtcdContents();
  std::optional<EtcdKv> record = CaRecord();
  ASSERT_TRUE(record.has_value());
  nlohmann::json doc = nlohmann::json::parse(record->value);
  ASSERT_EQ(doc["generations"].size(), 1u);
  int keys_checked = 0;
  for (const char* role : {"root", "intermediate"}) {
    const std::string sealed = doc["generations"][0][absl::StrCat(role, "_key_sealed")];
    std::string raw;
    ASSERT_TRUE(absl::Base64Unescape(sealed, &raw));
    EXPECT_GE(raw.size(), 12u + 16u + 100u) << "nonce, ciphertext of a PEM key, tag";
    ASSERT_OK_AND_ASSIGN(
        std::string pem,
        control::ca::Unseal(kek_, control::ca::SealBinding(kCaKey, kTd, 1, role), sealed));
    ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<EVP_PKEY> key, identity::ParsePrivateKeyPem(pem));
    uint8_t* der = nullptr;
    const int der_len = i2d_PrivateKey(key.get(), &der);
    ASSERT_GT(der_len, 0);
    const std::string der_bytes(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
    OPENSSL_free(der);
    const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key.get());
    ASSERT_NE(ec, nullptr);
    std::string scalar(32, '\0');
    ASSERT_EQ(BN_bn2bin_padded(reinterpret_cast<uint8_t*>(scalar.data()), scalar.size(),
                               EC_KEY_get0_private_key(ec)),
              1);
    for (const EtcdKv& kv : contents) {
      EXPECT_EQ(kv.value.find(pem), std::string::npos) << kv.key;
      EXPECT_EQ(kv.value.find(der_bytes), std::string::npos) << kv.key;
      EXPECT_EQ(kv.value.find(absl::Base64Escape(der_bytes)), std::string::npos) << kv.key;
      EXPECT_EQ(kv.value.find(scalar), std::string::npos) << kv.key;
      EXPECT_EQ(kv.value.find("PRIVATE KEY"), std::string::npos) << kv.key;
    }
    ++keys_checked;
  }
  EXPECT_EQ(keys_checked, 2);
}

TEST_F(ControlEtcdCaTest, SelfManagedCaOnEtcdWithoutKekIsRefusedNamingTheFlag) {
  const CommandResult r = RunRefused({"--store=etcd", "--etcd_endpoints=" + etcd_->Endpoints()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--ca_kek_file"));
  EXPECT_FALSE(CaRecord().has_value()) << "nothing written before the refusal";
  // A KEK any group or other user can read is refused too.
  const std::string open = dir_ + "/kek.open";
  WriteFileOrDie(open, kek_);
  ASSERT_EQ(::chmod(open.c_str(), 0644), 0);
  const CommandResult loose = RunRefused(ReplicaFlags(open));
  EXPECT_NE(loose.exit_code, 0);
  EXPECT_THAT(loose.output, HasSubstr("--ca_kek_file"));
  EXPECT_THAT(loose.output, HasSubstr("0644"));
  EXPECT_FALSE(CaRecord().has_value());
  // And with the file store the flag has no place.
  const CommandResult file_store = RunRefused({"--ca_kek_file=" + kek_file_});
  EXPECT_EQ(file_store.exit_code, 2) << file_store.output;
  EXPECT_THAT(file_store.output, HasSubstr("--ca_kek_file: only with --store=etcd"));
}

TEST_F(ControlEtcdCaTest, WrongKekIsRefusedNamingTheKeyAndTheRecordIsUnchanged) {
  auto r1 = StartReplica("r1");
  ASSERT_TRUE(r1);
  std::optional<EtcdKv> before = CaRecord();
  ASSERT_TRUE(before.has_value());
  const CommandResult r = RunRefused(ReplicaFlags(WriteKek("kek.other", std::string(32, 'w'))));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr(kCaKey));
  EXPECT_THAT(r.output, HasSubstr("--ca_kek_file"));
  std::optional<EtcdKv> after = CaRecord();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->mod_revision, before->mod_revision);
  EXPECT_EQ(after->value, before->value);
  EXPECT_TRUE(r1->process().Running());
}

TEST_F(ControlEtcdCaTest, MalformedOrForeignCaRecordIsRefusedAtStartAndNeverOverwritten) {
  ASSERT_EQ(etcd_->Etcdctl({"put", kCaKey, "{not json"}).exit_code, 0);
  const int64_t revision = CaRecord()->mod_revision;
  const CommandResult r = RunRefused(ReplicaFlags());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr(kCaKey));
  EXPECT_THAT(r.output, HasSubstr("not a JSON object"));
  EXPECT_EQ(CaRecord()->mod_revision, revision);
  // A foreign one: well formed, but another trust domain's.
  const std::string foreign =
      R"({"schema":1,"type":"ca","trust_domain":"other.org","bundle_version":1,"active":1,)"
      R"("generations":[]})";
  ASSERT_EQ(etcd_->Etcdctl({"put", kCaKey, foreign}).exit_code, 0);
  const int64_t foreign_revision = CaRecord()->mod_revision;
  const CommandResult f = RunRefused(ReplicaFlags());
  EXPECT_NE(f.exit_code, 0);
  EXPECT_THAT(f.output, HasSubstr(kCaKey));
  EXPECT_THAT(f.output, HasSubstr("other.org"));
  std::optional<EtcdKv> after = CaRecord();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->value, foreign);
  EXPECT_EQ(after->mod_revision, foreign_revision);
  EXPECT_EQ(EtcdContents().size(), 1u) << "nothing else written";
}

TEST_F(ControlEtcdCaTest, ABadRecordArrivingLaterIsCountedAndTheCaHeldStays) {
  auto r1 = StartReplica("r1");
  auto r2 = StartReplica("r2");
  ASSERT_TRUE(r1 && r2);
  const std::string root = ActiveRoot(*r1);
  ASSERT_EQ(etcd_->Etcdctl({"put", kCaKey, "{not json"}).exit_code, 0);
  const std::map<std::string, std::string> labels = {{"key", kCaKey}};
  for (ControlProcess* r : {r1.get(), r2.get()}) {
    EXPECT_TRUE(WaitFor(
        [&] {
          return MetricValue(HttpGet(r->admin_url() + "/metrics").body,
                             "palisade_control_ca_reload_failures_total", labels) == 1.0;
        },
        absl::Seconds(10)))
        << HttpGet(r->admin_url() + "/metrics").body;
    EXPECT_EQ(ActiveRoot(*r), root);
  }
  EXPECT_THAT(r2->process().Output(), HasSubstr("shared CA record refused"));
  // A CA step now (a rollover) does not overwrite it: refused, naming the key.
  const CommandResult rollover = r1->Cli({"rollover", "start"});
  EXPECT_NE(rollover.exit_code, 0) << rollover.output;
  EXPECT_THAT(rollover.output, HasSubstr(kCaKey));
  EXPECT_EQ(CaRecord()->value, "{not json");
  // Issuance goes on from the CA held.
  Svid svid;
  ASSERT_OK_AND_ASSIGN(nlohmann::json token, r2->CreateJoinToken(kWorkload));
  EXPECT_TRUE(BootstrapWith(*r2, token["token"], kWorkload, &svid).ok());
}

// The proxies are on replica 2; the rollover is started through replica 1.
TEST_F(ControlEtcdCaTest, RolloverThroughOneReplicaReachesTheProxiesOfTheOther) {
  MeshFixture::Options options;
  options.trust_domain = kTd;
  MeshFixture mesh(options);
  ASSERT_OK(mesh.StartControl(ReplicaFlags()));
  ControlProcess& r1 = mesh.control();
  auto r2 = StartReplica("r2");
  ASSERT_TRUE(r2);
  ASSERT_OK_AND_ASSIGN(EchoBackend * echo, mesh.StartBackend("echo"));
  auto on_r2 = [&](ProxyYaml* config) {
    config->identity.control_plane->address = r2->identity_address();
    config->identity.control_plane->bootstrap_bundle_file = r2->bundle_file();
  };
  ASSERT_OK_AND_ASSIGN(ProxyYaml in_config, mesh.ControlPlaneConfig("backend", kBackend));
  on_r2(&in_config);
  in_config.AddInbound("in", echo->address()).authorization.spiffe_ids = {kFrontend};
  ASSERT_OK_AND_ASSIGN(ProxyProcess * inbound, mesh.StartReadyProxy("backend", in_config));
  ASSERT_OK_AND_ASSIGN(ProxyYaml out_config, mesh.ControlPlaneConfig("frontend", kFrontend));
  on_r2(&out_config);
  out_config.AddOutbound("out", absl::StrCat("127.0.0.1:", *inbound->ListenerPort("in")))
      .expected_peer.spiffe_id = kBackend;
  ASSERT_OK_AND_ASSIGN(ProxyProcess * outbound, mesh.StartReadyProxy("frontend", out_config));
  const std::string old_root = ActiveRoot(r1);
  ASSERT_FALSE(old_root.empty());

  const uint16_t out_port = *outbound->ListenerPort("out");
  ASSERT_TRUE(RoundTrip(out_port)) << mesh.Logs();
  // A small traffic loop through the rollover.
  PacedTraffic traffic(out_port, absl::Milliseconds(50), 2000, absl::Seconds(90));

  const absl::Time start = absl::Now();
  const CommandResult started = r1.Cli({"rollover", "start"});
  EXPECT_EQ(started.exit_code, 0) << started.output;
  // The new root reaches replica 2's proxies (its watch, then a bundle push).
  const bool bundled = WaitFor(
      [&] {
        for (ProxyProcess* p : {inbound, outbound}) {
          const nlohmann::json certs = p->Certs();
          bool has_new = false;
          for (const auto& f : certs["trust_bundles"][kTd]) has_new |= f != old_root;
          if (!has_new) return false;
        }
        return true;
      },
      absl::Seconds(10), absl::Milliseconds(20));
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(bundled) << inbound->Certs().dump(2) << mesh.Logs();
  std::cout << "new root in the bundle of replica 2's proxies "
            << absl::FormatDuration(absl::Trunc(took, absl::Milliseconds(1)))
            << " after `rollover start` on replica 1\n";
  // Then a leaf under the new root, and the old root retired everywhere.
  EXPECT_TRUE(WaitFor(
      [&] {
        return OnlyOnTheNewRoot({inbound, outbound}, old_root);
      },
      absl::Seconds(60)))
      << inbound->Certs().dump(2) << "\n"
      << r1.State()["rollover"].dump(2) << mesh.Logs();
  EXPECT_NE(ActiveRoot(*r2), old_root);
  EXPECT_EQ(ActiveRoot(*r2), ActiveRoot(r1));
  EXPECT_EQ(r2->RootFingerprints().size(), 1u);
  traffic.Stop();
  std::cout << "traffic through replica 2's proxies during the rollover: " << traffic.failed()
            << " of " << traffic.sent() << " connections failed\n";
  EXPECT_EQ(traffic.failed(), 0) << mesh.Logs();
  EXPECT_TRUE(RoundTrip(out_port));
}

// Issue 14: kill -9 of the leader during a rollover, with traffic. Each
// proxy knows both replicas (identity.control_plane.addresses) and the two
// start on different ones, so one of them loses its replica and fails over.
// A view from a third "replica" that never acknowledges holds the rollover in
// propagating until the leader is dead; the survivor leads, resumes from the
// stored phase, and completes it. No connection fails.
TEST_F(ControlEtcdCaTest, KillNineOfTheLeaderMidRolloverLosesNoConnection) {
  const std::string ghost = PutNeverAcknowledgingReplica(*etcd_, kPrefix, "ghost");
  ASSERT_FALSE(ghost.empty());
  auto replica_flags = [&](const std::string& id) {
    std::vector<std::string> flags = ReplicaFlags();
    for (const char* f :
         {"--leader_lease_ttl=3s", "--svid_ttl=60s", "--rollover_propagating_timeout=5m",
          "--rollover_rekeying_timeout=60s", "--rollover_retiring_timeout=20s"}) {
      flags.push_back(f);
    }
    flags.push_back("--replica_id=" + id);
    return flags;
  };
  MeshFixture::Options options;
  options.trust_domain = kTd;
  MeshFixture mesh(options);
  ASSERT_OK(mesh.StartControl(replica_flags("r1")));
  ControlProcess* r1 = &mesh.control();
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<ControlProcess> r2,
      ControlProcess::Start(MakeTempDir("control-etcd-ca-r2"), replica_flags("r2")));
  auto role = [](const ControlProcess& c) {
    const nlohmann::json state = c.State();
    return state.is_object() && state.contains("leadership") ? state["leadership"].value("role", "")
                                                             : std::string();
  };
  ASSERT_TRUE(
      WaitFor([&] { return role(*r1) == "leader" || role(*r2) == "leader"; }, absl::Seconds(15)));
  ASSERT_OK_AND_ASSIGN(EchoBackend * echo, mesh.StartBackend("echo"));
  // The backend starts on replica 1, the frontend on replica 2; each lists
  // the other replica as its next address.
  ASSERT_OK_AND_ASSIGN(ProxyYaml in_config, mesh.ControlPlaneConfig("backend", kBackend));
  in_config.identity.control_plane->addresses = {r2->identity_address()};
  in_config.AddInbound("in", echo->address()).authorization.spiffe_ids = {kFrontend};
  ASSERT_OK_AND_ASSIGN(ProxyProcess * inbound, mesh.StartReadyProxy("backend", in_config));
  ASSERT_OK_AND_ASSIGN(ProxyYaml out_config, mesh.ControlPlaneConfig("frontend", kFrontend));
  out_config.identity.control_plane->address = r2->identity_address();
  out_config.identity.control_plane->addresses = {r1->identity_address()};
  out_config.identity.control_plane->bootstrap_bundle_file = r2->bundle_file();
  out_config.AddOutbound("out", absl::StrCat("127.0.0.1:", *inbound->ListenerPort("in")))
      .expected_peer.spiffe_id = kBackend;
  ASSERT_OK_AND_ASSIGN(ProxyProcess * outbound, mesh.StartReadyProxy("frontend", out_config));
  const std::string old_root = ActiveRoot(*r1);
  ASSERT_FALSE(old_root.empty());

  const uint16_t out_port = *outbound->ListenerPort("out");
  ASSERT_TRUE(RoundTrip(out_port)) << mesh.Logs();
  PacedTraffic traffic(out_port, absl::Milliseconds(30), 4000, absl::Seconds(150));

  // Started through the follower; held in propagating by the ghost.
  ControlProcess* leader = role(*r1) == "leader" ? r1 : r2.get();
  ControlProcess* follower = leader == r1 ? r2.get() : r1;
  const CommandResult started = follower->Cli({"rollover", "start"});
  EXPECT_EQ(started.exit_code, 0) << started.output;
  ASSERT_TRUE(WaitFor(
      [&] {
        const nlohmann::json rollover = leader->State()["rollover"];
        return rollover.value("phase", "") == "propagating" &&
               rollover["waiting_on"].dump().find("ghost-proxy") != std::string::npos;
      },
      absl::Seconds(20)))
      << leader->State()["rollover"].dump(2);
  const absl::Time killed = absl::Now();
  leader->process().Kill();
  ASSERT_TRUE(WaitFor([&] { return role(*follower) == "leader"; }, absl::Seconds(20)))
      << follower->State()["leadership"].dump();
  std::cout << "the follower led " << absl::FormatDuration(absl::Now() - killed)
            << " after kill -9 of the leader mid-rollover\n";
  EXPECT_EQ(follower->State()["rollover"].value("phase", ""), "propagating");
  // The ghost goes (as a dead replica's view does with its lease): the new
  // leader completes the rollover, with the failed-over proxy in its fleet.
  ASSERT_EQ(etcd_->Etcdctl({"del", ghost}).exit_code, 0);
  const bool completed = WaitFor(
      [&] {
        return follower->State()["rollover"].value("phase", "") == "idle" &&
               OnlyOnTheNewRoot({inbound, outbound}, old_root);
      },
      absl::Seconds(120));
  const int ok_before_end = traffic.sent() - traffic.failed();
  WaitFor([&] { return traffic.sent() - traffic.failed() >= ok_before_end + 20; },
          absl::Seconds(10));
  traffic.Stop();
  std::cout << "traffic during the rollover and the leader's death: " << traffic.failed() << " of "
            << traffic.sent() << " connections failed\n";
  EXPECT_TRUE(completed) << follower->State()["rollover"].dump(2) << "\n"
                         << inbound->Certs().dump(2) << "\n"
                         << outbound->Certs().dump(2) << mesh.Logs();
  EXPECT_NE(ActiveRoot(*follower), old_root);
  EXPECT_GT(traffic.sent(), 50);
  EXPECT_EQ(traffic.failed(), 0) << mesh.Logs();
  EXPECT_TRUE(RoundTrip(out_port));
}

}  // namespace
}  // namespace palisade::testing
