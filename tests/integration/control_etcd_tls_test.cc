// palisade-control on an etcd that requires TLS with client certificates
// (issue 14): a real etcd-server started with --cert-file, --key-file,
// --trusted-ca-file and --client-cert-auth, certificates made with the
// openssl CLI (an ordinary, non-SPIFFE PKI, as real etcd clusters use). The
// replica reaches etcd through its own BoringSSL bridge: it becomes ready and
// join tokens and de-registrations round-trip; a wrong CA, a missing or
// foreign client certificate and a name mismatch leave it not ready with
// /ready naming the reason; bad flag combinations are refused at start
// naming the flag; one member of three lost changes nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/identity_stream.h"
#include "tests/util/control_process.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/status_matchers.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kWorkload[] = "spiffe://example.org/ns/shop/sa/cart";

// etcd's PKI with the openssl CLI: a CA that signs etcd's serving certificate
// (IP SAN 127.0.0.1, DNS SAN etcd.test) and the replica's client
// certificate; another CA, and a client certificate under it.
constexpr char kPkiScript[] = R"sh(set -e
cd "$1"
ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -out "$1.pem" -subj "/CN=$1" -days 2 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() {
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$3" > "$1.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -out "$1.csr" -subj "/CN=$1"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
    -out "$1.pem" -extfile "$1.ext"
  chmod 0600 "$1.key"
}
ca etcd-ca
ca other-ca
leaf server etcd-ca IP:127.0.0.1,DNS:etcd.test
leaf client etcd-ca DNS:palisade-control
leaf rogue other-ca DNS:palisade-control
)sh";

class ControlEtcdTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("control-etcd-tls");
    // The replicas' bridge directories go here ($TMPDIR, inherited), not in a
    // /tmp or $TMPDIR shared with other runs; short, for the unix socket path.
    char tmp[] = "/tmp/palisade-etcd-tls-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmp), nullptr);
    tmp_ = tmp;
    ASSERT_EQ(::setenv("TMPDIR", tmp_.c_str(), 1), 0);
    pki_ = dir_ + "/pki";
    ASSERT_EQ(::mkdir(pki_.c_str(), 0700), 0);
    WriteFileOrDie(dir_ + "/pki.sh", kPkiScript);
    const CommandResult made = RunCommand({"/bin/sh", dir_ + "/pki.sh", pki_}, absl::Seconds(30));
    ASSERT_EQ(made.exit_code, 0) << made.output;
    // One operator CA for the replicas (the etcd PKI is a separate one).
    TestPki pki;
    WriteFileOrDie(dir_ + "/int.pem", PemOf({pki.intermediate().x509()}));
    WriteFileOrDie(dir_ + "/int.key", PemOf(pki.intermediate().key.get()));
    WriteFileOrDie(dir_ + "/roots.pem", pki.BundlePem());
  }

  void TearDown() override {
    etcd_.reset();
    std::error_code error;
    if (!tmp_.empty()) std::filesystem::remove_all(tmp_, error);
  }

  void StartEtcd(int members) {
    EtcdTlsFiles tls;
    tls.cert_file = pki_ + "/server.pem";
    tls.key_file = pki_ + "/server.key";
    tls.trusted_ca_file = pki_ + "/etcd-ca.pem";
    tls.server_ca_file = pki_ + "/etcd-ca.pem";
    tls.client_cert_file = pki_ + "/client.pem";
    tls.client_key_file = pki_ + "/client.key";
    ASSERT_OK_AND_ASSIGN(etcd_, EtcdCluster::Start(dir_ + "/etcd", members, &tls));
  }

  // The replica's flags; `tls` are the TLS-to-etcd flags.
  std::vector<std::string> Flags(const std::vector<std::string>& tls) const {
    std::vector<std::string> flags = {"--plugin_ca_cert=" + dir_ + "/int.pem",
                                      "--plugin_ca_key=" + dir_ + "/int.key",
                                      "--plugin_root_bundle=" + dir_ + "/roots.pem", "--store=etcd",
                                      "--etcd_endpoints=" + etcd_->Endpoints()};
    flags.insert(flags.end(), tls.begin(), tls.end());
    return flags;
  }
  std::vector<std::string> GoodTls() const {
    return {"--etcd_ca_file=" + pki_ + "/etcd-ca.pem", "--etcd_cert_file=" + pki_ + "/client.pem",
            "--etcd_key_file=" + pki_ + "/client.key"};
  }

  // `ready`: wait until /ready is 200; else until it answers at all.
  std::unique_ptr<ControlProcess> StartReplica(const std::string& name,
                                               const std::vector<std::string>& tls,
                                               bool ready = true) {
    auto control =
        ControlProcess::Start(MakeTempDir("control-etcd-tls-" + name), Flags(tls), {}, ready);
    EXPECT_OK(control.status());
    return control.ok() ? *std::move(control) : nullptr;
  }

  // Waits (bounded) until /ready is 503 and names every one of `words`;
  // returns the last body for the failure message.
  static bool NotReadyNaming(const ControlProcess& control, const std::vector<std::string>& words,
                             std::string* body) {
    return WaitFor(
        [&] {
          const HttpResult ready = HttpGet(control.admin_url() + "/ready");
          *body = ready.body;
          if (ready.status != 503) return false;
          for (const std::string& w : words) {
            if (!absl::StrContains(ready.body, w)) return false;
          }
          return true;
        },
        absl::Seconds(20));
  }

  std::string dir_;
  std::string tmp_;
  std::string pki_;
  std::unique_ptr<EtcdCluster> etcd_;
};

// The bridges' private directories under $TMPDIR (which palisade-control
// inherits from the test), with their modes.
std::vector<std::pair<std::string, mode_t>> BridgeDirectories() {
  std::vector<std::pair<std::string, mode_t>> out;
  const char* tmp = ::getenv("TMPDIR");
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(tmp != nullptr ? tmp : "/tmp", error)) {
    if (entry.path().filename().string().rfind("palisade-etcd-", 0) != 0) continue;
    struct stat st;
    if (::stat(entry.path().c_str(), &st) == 0) out.emplace_back(entry.path(), st.st_mode & 07777);
  }
  return out;
}

// etcdctl with the server's CA and these extra arguments, for checking that
// etcd itself insists on TLS and client certificates.
CommandResult EtcdctlAs(const EtcdCluster& etcd, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"/usr/bin/env",         "ETCDCTL_API=3",
                                   "/usr/bin/etcdctl",     "--endpoints=" + etcd.Endpoints(),
                                   "--command-timeout=2s", "--dial-timeout=2s"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {"get", "x"});
  return RunCommand(argv, absl::Seconds(15));
}

TEST_F(ControlEtcdTlsTest, ReplicaOnTlsEtcdIsReadyAndTokensAndDeregistrationsRoundTrip) {
  StartEtcd(1);
  // etcd really requires TLS and a client certificate: else this test
  // could pass over plaintext.
  EXPECT_NE(EtcdctlAs(*etcd_, {}).exit_code, 0) << "etcd answered a plaintext client";
  EXPECT_NE(EtcdctlAs(*etcd_, {"--cacert=" + pki_ + "/etcd-ca.pem"}).exit_code, 0)
      << "etcd answered a client without a certificate";
  const CommandResult with_cert = etcd_->Etcdctl({"get", "x"});
  ASSERT_EQ(with_cert.exit_code, 0) << with_cert.output;

  auto r1 = StartReplica("r1", GoodTls());
  ASSERT_TRUE(r1);
  const HttpResult ready = HttpGet(r1->admin_url() + "/ready");
  EXPECT_EQ(ready.status, 200) << ready.body << r1->process().Output();

  // A join token is stored in etcd, used once, then refused.
  absl::StatusOr<nlohmann::json> token = r1->CreateJoinToken(kWorkload);
  ASSERT_OK(token.status());
  EXPECT_THAT(
      etcd_->Etcdctl({"get", "--prefix", "--keys-only", "/palisade/example.org/tokens/"}).output,
      HasSubstr((*token)["id"].get<std::string>()));
  const grpc::Status first = BootstrapWith(*r1, (*token)["token"].get<std::string>(), kWorkload);
  EXPECT_TRUE(first.ok()) << first.error_message() << r1->process().Output();
  const grpc::Status again = BootstrapWith(*r1, (*token)["token"].get<std::string>(), kWorkload);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::UNAUTHENTICATED) << again.error_message();

  // A de-registration goes to etcd and comes back through the watch.
  const HttpResult dereg =
      r1->AdminPost("/api/v1/deregister", nlohmann::json{{"spiffe_id", kWorkload}}.dump());
  EXPECT_EQ(dereg.status, 200) << dereg.body;
  EXPECT_THAT(etcd_->Etcdctl({"get", "--prefix", "/palisade/example.org/revocations/"}).output,
              HasSubstr(kWorkload));
  EXPECT_TRUE(
      WaitFor([&] { return absl::StrContains(r1->State()["revocations"].dump(), kWorkload); },
              absl::Seconds(10)))
      << r1->State().dump();

  // gRPC's plaintext side is a unix socket in a directory only this user can
  // enter, removed on a clean stop.
  const auto dirs = BridgeDirectories();
  ASSERT_EQ(dirs.size(), 1u) << "one endpoint, one bridge";
  EXPECT_EQ(dirs[0].second, 0700u) << dirs[0].first;
  EXPECT_EQ(::access((dirs[0].first + "/etcd.sock").c_str(), F_OK), 0);
  r1.reset();
  EXPECT_TRUE(BridgeDirectories().empty()) << "left behind: " << dirs[0].first;
}

// kill -9 leaves the bridge's directory behind (no destructor runs); the
// next palisade-control started with the same $TMPDIR removes it, since its
// process is gone, and makes its own, which works.
TEST_F(ControlEtcdTlsTest, BridgeDirectoryOfAKilledReplicaIsRemovedOnTheNextStart) {
  StartEtcd(1);
  auto killed = StartReplica("killed", GoodTls());
  ASSERT_TRUE(killed);
  const auto before = BridgeDirectories();
  ASSERT_EQ(before.size(), 1u);
  ASSERT_TRUE(killed->process().Kill().has_value());
  ASSERT_EQ(::access(before[0].first.c_str(), F_OK), 0) << "kill -9 left nothing to clean";

  auto restarted = StartReplica("restarted", GoodTls());
  ASSERT_TRUE(restarted);
  EXPECT_NE(::access(before[0].first.c_str(), F_OK), 0)
      << "stale bridge directory left behind: " << before[0].first;
  const auto after = BridgeDirectories();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0].first, before[0].first);
  EXPECT_EQ(after[0].second, 0700u);
  // The new bridge carries the replica's etcd traffic.
  EXPECT_OK(restarted->CreateJoinToken(kWorkload).status()) << restarted->process().Output();
  EXPECT_THAT(restarted->process().Output(), HasSubstr("stale etcd TLS bridge directory"));
}

// All of etcd gone, then back: not ready naming the connect failure, then
// ready again without a restart.
TEST_F(ControlEtcdTlsTest, EtcdDownThenBackIsReportedAndRecoveredFrom) {
  StartEtcd(1);
  auto r1 = StartReplica("down", GoodTls());
  ASSERT_TRUE(r1);
  etcd_->KillMember(0);
  std::string body;
  EXPECT_TRUE(NotReadyNaming(*r1, {"store_unavailable", "(connect)"}, &body)) << body;
  ASSERT_OK(etcd_->RestartMember(0));
  ASSERT_OK(etcd_->WaitHealthy());
  EXPECT_TRUE(
      WaitFor([&] { return HttpGet(r1->admin_url() + "/ready").status == 200; }, absl::Seconds(20)))
      << HttpGet(r1->admin_url() + "/ready").body;
}

TEST_F(ControlEtcdTlsTest, DnsNameOverrideIsCheckedAgainstTheDnsSan) {
  StartEtcd(1);
  std::vector<std::string> tls = GoodTls();
  tls.push_back("--etcd_server_name=etcd.test");
  auto r1 = StartReplica("dns", tls);
  ASSERT_TRUE(r1);
  EXPECT_TRUE(
      WaitFor([&] { return HttpGet(r1->admin_url() + "/ready").status == 200; }, absl::Seconds(15)))
      << HttpGet(r1->admin_url() + "/ready").body;
}

TEST_F(ControlEtcdTlsTest, WrongCaLeavesTheReplicaNotReadyNamingTheVerificationFailure) {
  StartEtcd(1);
  auto r1 = StartReplica(
      "wrong-ca",
      {"--etcd_ca_file=" + pki_ + "/other-ca.pem", "--etcd_cert_file=" + pki_ + "/client.pem",
       "--etcd_key_file=" + pki_ + "/client.key"},
      /*ready=*/false);
  ASSERT_TRUE(r1);
  std::string body;
  EXPECT_TRUE(NotReadyNaming(*r1,
                             {"store_unavailable", "untrusted_server_certificate",
                              "server certificate of 127.0.0.1 does not verify"},
                             &body))
      << body;
  EXPECT_THAT(ReadFileOrEmpty(r1->process().log_path()),
              HasSubstr("TLS connection to etcd failed"));
  // Counted by endpoint and reason; the other reasons' series stand at 0.
  const std::string metrics = HttpGet(r1->admin_url() + "/metrics").body;
  const std::string counter = "palisade_control_etcd_tls_failures_total";
  EXPECT_GE(
      MetricValue(metrics, counter,
                  {{"endpoint", etcd_->Endpoints()}, {"reason", "untrusted_server_certificate"}})
          .value_or(0),
      1)
      << metrics;
  EXPECT_EQ(MetricValue(metrics, counter, {{"reason", "server_name_mismatch"}}), 0.0) << metrics;

  // A self-managed CA lives in etcd: without it the replica cannot start,
  // and says why.
  const std::string kek = dir_ + "/kek";
  WriteFileOrDie(kek, std::string(32, 'k'));
  ASSERT_EQ(::chmod(kek.c_str(), 0400), 0);
  const CommandResult refused = RunCommand(
      {kControlBinary, "serve", "--trust_domain=example.org", "--state_dir=" + dir_ + "/sm-state",
       "--listen=127.0.0.1:0", "--admin=127.0.0.1:0", "--store=etcd",
       "--etcd_endpoints=" + etcd_->Endpoints(), "--ca_kek_file=" + kek,
       "--etcd_ca_file=" + pki_ + "/other-ca.pem", "--etcd_cert_file=" + pki_ + "/client.pem",
       "--etcd_key_file=" + pki_ + "/client.key"},
      absl::Seconds(30));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("store_unavailable"));
  EXPECT_THAT(refused.output, HasSubstr("untrusted_server_certificate"));
}

TEST_F(ControlEtcdTlsTest, MissingOrForeignClientCertificateIsNamedAsRefusedByEtcd) {
  StartEtcd(1);
  auto none = StartReplica("no-cert", {"--etcd_ca_file=" + pki_ + "/etcd-ca.pem"}, false);
  auto rogue = StartReplica(
      "rogue-cert",
      {"--etcd_ca_file=" + pki_ + "/etcd-ca.pem", "--etcd_cert_file=" + pki_ + "/rogue.pem",
       "--etcd_key_file=" + pki_ + "/rogue.key"},
      false);
  ASSERT_TRUE(none && rogue);
  std::string body;
  EXPECT_TRUE(NotReadyNaming(
      *none, {"client_certificate_refused", "etcd requires a client certificate"}, &body))
      << body;
  EXPECT_TRUE(NotReadyNaming(
      *rogue, {"client_certificate_refused", "etcd refused the client certificate"}, &body))
      << body;
}

TEST_F(ControlEtcdTlsTest, NameMismatchIsRefused) {
  StartEtcd(1);
  std::vector<std::string> tls = GoodTls();
  tls.push_back("--etcd_server_name=etcd.elsewhere.test");
  auto r1 = StartReplica("mismatch", tls, /*ready=*/false);
  ASSERT_TRUE(r1);
  std::string body;
  EXPECT_TRUE(NotReadyNaming(*r1, {"server_name_mismatch", "etcd.elsewhere.test"}, &body)) << body;
}

// Refused before anything is written or dialled (port 1 has nothing).
TEST_F(ControlEtcdTlsTest, BadFlagCombinationsAreRefusedAtStartNamingTheFlag) {
  const std::string state = dir_ + "/refused-state";
  auto serve = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {kControlBinary,
                                     "serve",
                                     "--trust_domain=example.org",
                                     "--state_dir=" + state,
                                     "--listen=127.0.0.1:0",
                                     "--admin=127.0.0.1:0",
                                     "--plugin_ca_cert=" + dir_ + "/int.pem",
                                     "--plugin_ca_key=" + dir_ + "/int.key",
                                     "--plugin_root_bundle=" + dir_ + "/roots.pem"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv, absl::Seconds(10));
  };
  auto refused = [&](std::vector<std::string> extra, int exit_code, const std::string& problem) {
    SCOPED_TRACE(problem);
    const CommandResult r = serve(extra);
    EXPECT_EQ(r.exit_code, exit_code) << r.output;
    EXPECT_THAT(r.output, HasSubstr(problem));
    EXPECT_NE(::access(state.c_str(), F_OK), 0) << "the state directory was created";
  };
  const std::string etcd = "--store=etcd";
  const std::string endpoints = "--etcd_endpoints=127.0.0.1:1";
  const std::string ca = "--etcd_ca_file=" + pki_ + "/etcd-ca.pem";
  const std::string cert = "--etcd_cert_file=" + pki_ + "/client.pem";
  const std::string key = "--etcd_key_file=" + pki_ + "/client.key";
  refused({etcd, endpoints, ca, cert}, 2, "--etcd_cert_file: needs --etcd_key_file");
  refused({etcd, endpoints, ca, key}, 2, "--etcd_key_file: needs --etcd_cert_file");
  refused({etcd, endpoints, cert, key}, 2, "--etcd_cert_file: only with --etcd_ca_file");
  refused({etcd, endpoints, "--etcd_server_name=etcd.test"}, 2,
          "--etcd_server_name: only with --etcd_ca_file");
  refused({ca}, 2, "--etcd_ca_file: only with --store=etcd");
  refused({"--store=file", cert, key}, 2, "--etcd_cert_file: only with --store=etcd");
  refused({etcd, "--etcd_endpoints=https://127.0.0.1:1", ca}, 2,
          "TLS to etcd is turned on by --etcd_ca_file");
  // The files themselves.
  refused({etcd, endpoints, "--etcd_ca_file=" + pki_ + "/absent.pem"}, 2,
          "--etcd_ca_file \"" + pki_ + "/absent.pem\"");
  refused({etcd, endpoints, "--etcd_ca_file=" + pki_ + "/client.pem"}, 2, "is not a CA");
  refused({etcd, endpoints, ca, cert, "--etcd_key_file=" + pki_ + "/rogue.key"}, 2,
          "--etcd_cert_file \"" + pki_ + "/client.pem\" with --etcd_key_file");
  ASSERT_EQ(::chmod((pki_ + "/client.key").c_str(), 0644), 0);
  refused({etcd, endpoints, ca, cert, key}, 1,
          "--etcd_key_file \"" + pki_ + "/client.key\": mode 0644 lets a group or other users");
}

// Three members, one killed: the replica's calls and watches move to a
// member that answers, through that member's own bridge.
TEST_F(ControlEtcdTlsTest, ThreeMemberTlsEtcdWithOneMemberKilledKeepsWorking) {
  StartEtcd(3);
  auto r1 = StartReplica("r1", GoodTls());
  ASSERT_TRUE(r1);
  ASSERT_EQ(HttpGet(r1->admin_url() + "/ready").status, 200);
  etcd_->KillMember(0);
  int unready = 0;
  for (int i = 0; i < 10; ++i) {
    if (HttpGet(r1->admin_url() + "/ready").status != 200) ++unready;
    absl::SleepFor(absl::Milliseconds(300));
  }
  EXPECT_EQ(unready, 0) << HttpGet(r1->admin_url() + "/ready").body;
  // Writes still work: a token created and used after the loss.
  absl::StatusOr<nlohmann::json> token = r1->CreateJoinToken(kWorkload);
  ASSERT_OK(token.status());
  const grpc::Status used = BootstrapWith(*r1, (*token)["token"].get<std::string>(), kWorkload);
  EXPECT_TRUE(used.ok()) << used.error_message() << r1->process().Output();
}

}  // namespace
}  // namespace palisade::testing
