// A palisade-control serve that cannot start says which flag is wrong and
// leaves the state directory without a CA: a root written by a failed run is
// a root nobody asked for. Real processes; each refusal exits at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/util/control_process.h"
#include "tests/util/loopback.h"
#include "tests/util/process.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

class ControlStartRefusalsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("control-start"); }

  std::string state() const { return dir_ + "/state"; }

  // `serve` with `extra` flags (which win). A refusal exits at once; a serve
  // that starts is killed at the timeout (exit -1).
  CommandResult Serve(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {kControlBinary,
                                     "serve",
                                     "--trust_domain=example.org",
                                     "--state_dir=" + state(),
                                     "--listen=127.0.0.1:0",
                                     "--admin=127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv, absl::Seconds(10));
  }

  void ExpectRefusedWithoutCa(const CommandResult& r, int exit_code, const std::string& problem) {
    EXPECT_EQ(r.exit_code, exit_code) << r.output;
    EXPECT_THAT(r.output, HasSubstr(problem));
    EXPECT_FALSE(PathExists(state() + "/ca")) << "a CA was written by a serve that failed";
    EXPECT_FALSE(PathExists(state() + "/bundle.pem"));
  }

  static bool PathExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

  std::string dir_;
};

TEST_F(ControlStartRefusalsTest, IdentityPortInUseWritesNoCa) {
  HeldPort taken;
  ExpectRefusedWithoutCa(Serve({"--listen=" + taken.address()}), 2,
                         absl::StrCat("--listen: cannot bind ", taken.address()));
}

TEST_F(ControlStartRefusalsTest, AdminPortInUseWritesNoCaAndExitsAsForTheIdentityPort) {
  HeldPort taken;
  ExpectRefusedWithoutCa(Serve({"--admin=" + taken.address()}), 2,
                         absl::StrCat("--admin: cannot bind ", taken.address()));
}

TEST_F(ControlStartRefusalsTest, PublicPortInUseWritesNoCaAndExitsAsForTheIdentityPort) {
  HeldPort taken;
  ExpectRefusedWithoutCa(Serve({"--public_listen=" + taken.address()}), 2,
                         absl::StrCat("--public_listen: cannot bind ", taken.address()));
}

TEST_F(ControlStartRefusalsTest, WebhookPortInUseOrWithoutItsCertificateWritesNoCa) {
  HeldPort taken;
  ExpectRefusedWithoutCa(
      Serve({"--webhook_listen=" + taken.address(), "--webhook_tls_cert=" + dir_ + "/w.pem",
             "--webhook_tls_key=" + dir_ + "/w.key"}),
      2, absl::StrCat("--webhook_listen: cannot bind ", taken.address()));
  ExpectRefusedWithoutCa(Serve({"--webhook_listen=127.0.0.1:0"}), 2,
                         "--webhook_listen needs --webhook_tls_cert and --webhook_tls_key");
}

TEST_F(ControlStartRefusalsTest, BundleEndpointMistakesAreRefusedNamingTheFlag) {
  HeldPort taken;
  ExpectRefusedWithoutCa(Serve({"--bundle_endpoint_listen=" + taken.address()}), 2,
                         absl::StrCat("--bundle_endpoint_listen: cannot bind ", taken.address()));
  ExpectRefusedWithoutCa(Serve({"--bundle_endpoint_listen=nowhere"}), 2,
                         "--bundle_endpoint_listen: ");
  ExpectRefusedWithoutCa(
      Serve({"--bundle_endpoint_listen=127.0.0.1:0", "--bundle_endpoint_refresh_hint=0s"}), 2,
      "--bundle_endpoint_refresh_hint: must be between 1s and 168h");
  ExpectRefusedWithoutCa(Serve({"--bundle_endpoint_refresh_hint=200h"}), 2,
                         "--bundle_endpoint_refresh_hint: must be between 1s and 168h");
  ExpectRefusedWithoutCa(Serve({"--bundle_endpoint_listen=127.0.0.1:0",
                                "--bundle_endpoint_tls_cert=" + dir_ + "/w.pem"}),
                         2, "--bundle_endpoint_tls_key: https_web needs both");
  ExpectRefusedWithoutCa(Serve({"--bundle_endpoint_listen=127.0.0.1:0",
                                "--bundle_endpoint_tls_cert=" + dir_ + "/w.pem",
                                "--bundle_endpoint_tls_key=" + dir_ + "/w.key"}),
                         2, "--bundle_endpoint_tls_cert: ");
  ExpectRefusedWithoutCa(Serve({"--bundle_endpoint_tls_cert=" + dir_ + "/w.pem",
                                "--bundle_endpoint_tls_key=" + dir_ + "/w.key"}),
                         2, "need --bundle_endpoint_listen");
}

TEST_F(ControlStartRefusalsTest, MissingJwksFileWritesNoCa) {
  ExpectRefusedWithoutCa(
      Serve({"--jwks_file=" + dir_ + "/absent.json", "--sa_issuer=https://kubernetes.default.svc",
             "--sa_audience=palisade"}),
      2, "--jwks_file");
}

// --sa_issuer_discovery: each mistake is refused at start naming its flag,
// before any state is written; plain http:// is never fetched.
TEST_F(ControlStartRefusalsTest, IssuerDiscoveryMistakesAreRefusedNamingTheFlag) {
  TestPki pki;
  const std::string ca = dir_ + "/ca.pem";
  WriteFileOrDie(ca, pki.BundlePem());
  const std::string leaf = dir_ + "/leaf.pem";
  WriteFileOrDie(leaf, PemOf({pki.IssueLeaf("/x").cert.get()}));
  const std::vector<std::string> good = {"--sa_issuer_discovery",
                                         "--sa_issuer=https://kubernetes.default.svc",
                                         "--sa_audience=palisade", "--sa_issuer_ca_file=" + ca};
  auto with = [&](std::vector<std::string> flags) {
    std::vector<std::string> all = good;
    all.insert(all.end(), flags.begin(), flags.end());
    return Serve(all);
  };
  ExpectRefusedWithoutCa(with({"--sa_issuer=http://kubernetes.default.svc"}), 2,
                         "--sa_issuer: \"http://kubernetes.default.svc\" is not an https:// URL");
  ExpectRefusedWithoutCa(with({"--sa_issuer_ca_file="}), 2,
                         "--sa_issuer_ca_file: is required with --sa_issuer_discovery");
  ExpectRefusedWithoutCa(with({"--sa_issuer_ca_file=" + dir_ + "/absent.pem"}), 2,
                         "--sa_issuer_ca_file \"" + dir_ + "/absent.pem\": cannot open");
  ExpectRefusedWithoutCa(with({"--sa_issuer_ca_file=" + leaf}), 2,
                         "--sa_issuer_ca_file: \"" + leaf +
                             "\": certificate 1 of the CA file "
                             "is not a CA");
  ExpectRefusedWithoutCa(with({"--sa_issuer_token_file=" + dir_ + "/absent"}), 2,
                         "--sa_issuer_token_file \"" + dir_ + "/absent\": cannot open");
  ExpectRefusedWithoutCa(with({"--sa_audience="}), 2,
                         "--sa_audience: is required with --sa_issuer_discovery");
  ExpectRefusedWithoutCa(with({"--sa_jwks_refresh_interval=100ms"}), 2,
                         "--sa_jwks_refresh_interval: must be at least 1s");
  ExpectRefusedWithoutCa(with({"--sa_jwks_unknown_key_interval=0s"}), 2,
                         "--sa_jwks_unknown_key_interval: must be more than zero");
  ExpectRefusedWithoutCa(with({"--sa_issuer_timeout=0s"}), 2,
                         "--sa_issuer_timeout: must be more than zero");
  ExpectRefusedWithoutCa(with({"--jwks_file=" + dir_ + "/jwks.json"}), 2,
                         "--sa_issuer_discovery: cannot be used with --jwks_file");
  ExpectRefusedWithoutCa(Serve({"--sa_issuer_ca_file=" + ca}), 2,
                         "--sa_issuer_ca_file: needs --sa_issuer_discovery");
  ExpectRefusedWithoutCa(Serve({"--sa_issuer=https://k8s", "--sa_audience=palisade"}), 2,
                         "--jwks_file or --sa_issuer_discovery is required");
}

TEST_F(ControlStartRefusalsTest, IdentityPortLimitsThatCannotWorkAreRefusedNamingTheFlag) {
  ExpectRefusedWithoutCa(Serve({"--max_connections=32", "--svid_reserved_connections=32"}), 2,
                         "--svid_reserved_connections: must be fewer than --max_connections (32)");
  ExpectRefusedWithoutCa(Serve({"--svid_reserved_connections=4000000000"}), 2,
                         "--svid_reserved_connections: the connections reserved for SVIDs");
  ExpectRefusedWithoutCa(Serve({"--first_byte_timeout=0s"}), 2,
                         "--first_byte_timeout: must be more than zero");
  ExpectRefusedWithoutCa(Serve({"--first_stream_timeout=100ms"}), 2,
                         "--first_stream_timeout: must be at least 1s");
  ExpectRefusedWithoutCa(Serve({"--max_pending_handshakes=-1"}), 2,
                         "--max_pending_handshakes: must not be negative");
  ExpectRefusedWithoutCa(Serve({"--max_pending_handshakes_per_source=0"}), 2,
                         "--max_pending_handshakes_per_source: must be at least 1");
  ExpectRefusedWithoutCa(Serve({"--tls_refusal_log_interval=0s"}), 2,
                         "--tls_refusal_log_interval: must be more than zero");
}

TEST_F(ControlStartRefusalsTest, SvidTtlBeyondANewCasLifeIsRefusedNamingTheFlag) {
  ExpectRefusedWithoutCa(Serve({"--svid_ttl=10000h"}), 2,
                         "--svid_ttl: 10000h is longer than the CA's own life (8760h)");
}

TEST_F(ControlStartRefusalsTest, IssuanceLimitsOutOfRangeAreRefusedNamingTheFlag) {
  ExpectRefusedWithoutCa(Serve({"--issuance_burst=0"}), 2,
                         "--issuance_burst: 0 is not between 1 and");
  ExpectRefusedWithoutCa(Serve({"--issuance_per_ttl=-5"}), 2,
                         "--issuance_per_ttl: -5 is not between 1 and");
  ExpectRefusedWithoutCa(Serve({"--issuance_burst=20", "--issuance_max_unexpired=10"}), 2,
                         "--issuance_max_unexpired: 10 is less than --issuance_burst (20)");
}

TEST_F(ControlStartRefusalsTest, SvidTtlBeyondTheCasRemainingLifeIsRefusedNamingTheFlag) {
  // A plug-in intermediate with two hours left cannot back three-hour SVIDs.
  TestPki pki({.trust_domain = "example.org", .with_intermediate = false});
  CertSpec spec = IntermediateSpec("example.org", absl::Now() - absl::Minutes(1));
  spec.not_after = absl::Now() + absl::Hours(2);
  const Credential intermediate = Issue(spec, &pki.root());
  WriteFileOrDie(dir_ + "/int.pem", PemOf({intermediate.x509()}));
  WriteFileOrDie(dir_ + "/int.key", PemOf(intermediate.key.get()));
  WriteFileOrDie(dir_ + "/roots.pem", pki.BundlePem());
  const std::vector<std::string> plugin = {"--plugin_ca_cert=" + dir_ + "/int.pem",
                                           "--plugin_ca_key=" + dir_ + "/int.key",
                                           "--plugin_root_bundle=" + dir_ + "/roots.pem"};
  std::vector<std::string> flags = plugin;
  flags.push_back("--svid_ttl=3h");
  const CommandResult r = Serve(flags);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--svid_ttl: 3h is longer than the CA's remaining life (1h59m"));
  // One hour fits.
  flags.back() = "--svid_ttl=1h";
  auto control = ControlProcess::Start(MakeTempDir("control-start-ok"), flags);
  EXPECT_TRUE(control.ok()) << control.status();
}

// Issue 14: --store and its etcd flags are checked before anything is
// written: not even the state directory is created, and no etcd is dialled
// (port 1 on loopback has nothing behind it).
TEST_F(ControlStartRefusalsTest, StoreFlagMistakesAreRefusedNamingTheFlagBeforeAnyWrite) {
  auto refused = [&](std::vector<std::string> flags, const std::string& problem) {
    SCOPED_TRACE(problem);
    ExpectRefusedWithoutCa(Serve(flags), 2, problem);
    EXPECT_FALSE(PathExists(state())) << "the state directory was created by a refused serve";
  };
  refused({"--store=bogus"}, "--store: must be file or etcd, not \"bogus\"");
  refused({"--store=etcd"}, "--etcd_endpoints: is required with --store=etcd");
  refused({"--store=etcd", "--etcd_endpoints=127.0.0.1"},
          "--etcd_endpoints: \"127.0.0.1\" is not host:port");
  refused({"--store=etcd", "--etcd_endpoints=127.0.0.1:1,etcd-2"},
          "--etcd_endpoints: \"etcd-2\" is not host:port");
  refused({"--store=etcd", "--etcd_endpoints=127.0.0.1:99999"},
          "--etcd_endpoints: \"127.0.0.1:99999\" is not host:port");
  refused({"--store=etcd", "--etcd_endpoints=https://127.0.0.1:2379"},
          "--etcd_endpoints: \"https://127.0.0.1:2379\": give host:port; TLS to etcd is turned "
          "on by --etcd_ca_file");
  refused({"--etcd_endpoints=127.0.0.1:1"}, "--etcd_endpoints: only with --store=etcd");
  refused({"--store=file", "--etcd_endpoints=127.0.0.1:1"},
          "--etcd_endpoints: only with --store=etcd");
  refused({"--etcd_prefix=/palisade/x/"}, "--etcd_prefix: only with --store=etcd");
  refused({"--store=etcd", "--etcd_endpoints=127.0.0.1:1", "--etcd_prefix=palisade"},
          "--etcd_prefix: \"palisade\" must start and end with \"/\"");
}

// Issue 16: a federation file with a bad field, and a stored federated
// bundle that is not a bundle, refuse start naming the field or the file.
TEST_F(ControlStartRefusalsTest, BadFederationFileOrStoredBundleIsRefusedNamingTheFieldOrFile) {
  TestPki partner({.trust_domain = "partner.test"});
  const std::string initial = dir_ + "/partner.pem";
  WriteFileOrDie(initial, partner.BundlePem());
  auto federation = [&](const std::string& trust_domain, const std::string& endpoint_id) {
    const std::string file = dir_ + "/federation.yaml";
    WriteFileOrDie(file,
                   absl::StrCat("federation:\n"
                                "  - trust_domain: ",
                                trust_domain, "\n",
                                "    bundle_endpoint_url: https://127.0.0.1:1/\n"
                                "    profile: https_spiffe\n"
                                "    endpoint_spiffe_id: ",
                                endpoint_id, "\n", "    initial_bundle_file: ", initial, "\n"));
    return "--federation_file=" + file;
  };
  ExpectRefusedWithoutCa(
      Serve({federation("partner.test", "spiffe://other.test/palisade/control")}), 2,
      "federation[0].endpoint_spiffe_id: \"spiffe://other.test/palisade/control\" is not in "
      "trust domain \"partner.test\"");
  ExpectRefusedWithoutCa(
      Serve({federation("example.org", "spiffe://example.org/palisade/control")}), 2,
      "federation[0].trust_domain: \"example.org\" is this control plane's own trust domain");
  WriteFileOrDie(initial, "not a bundle");
  ExpectRefusedWithoutCa(
      Serve({federation("partner.test", "spiffe://partner.test/palisade/control")}), 2,
      "federation[0].initial_bundle_file: \"" + initial + "\": neither SPIFFE bundle JSON");
  WriteFileOrDie(initial, partner.BundlePem());

  ASSERT_EQ(::mkdir(state().c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((state() + "/federation").c_str(), 0700), 0);
  const std::string stored = state() + "/federation/partner.test.json";
  WriteFileOrDie(stored, "{\"keys\": [");
  ExpectRefusedWithoutCa(
      Serve({federation("partner.test", "spiffe://partner.test/palisade/control")}), 1,
      "stored federated bundle \"" + stored + "\" is malformed");
}

}  // namespace
}  // namespace palisade::testing
