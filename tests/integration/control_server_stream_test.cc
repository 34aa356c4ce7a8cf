// palisade-control as a real process, driven over real TLS identity streams:
// first SVID by join token, renewal over mTLS, the refusals with their status
// and audit line, the CLI, restart on the same state, corrupt state refused,
// and a root rollover through every phase.
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "identity/certificate.h"
#include "tests/integration/identity_stream.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_jwt.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

using control::v1::WatchRequest;
using control::v1::WatchResponse;
using ::testing::HasSubstr;

constexpr char kWorkload[] = "spiffe://example.org/host/db-1";

class ControlServerStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("control"); }

  // SIGTERM stops the server cleanly (exit 0; under ASan also leak-free).
  void TearDown() override {
    if (control_ != nullptr && control_->process().Running()) {
      EXPECT_EQ(control_->process().Stop(), 0) << control_->process().Output();
    }
  }

  void StartControl(std::vector<std::string> extra = {}) {
    auto control = ControlProcess::Start(dir_, extra);
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);
  }

  std::string CreateToken(const std::string& id, bool single_use = true) {
    CommandResult r = control_->Cli({"token", "create", "--spiffe_id=" + id,
                                     single_use ? "--single_use=true" : "--single_use=false"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    // The token is the line starting with "pjt." (stderr holds the description).
    for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
      if (absl::StartsWith(line, "pjt.")) return std::string(line);
    }
    ADD_FAILURE() << "no token in: " << r.output;
    return "";
  }

  // Bootstraps `id` with a fresh join token; returns its SVID.
  Svid Bootstrap(const std::string& id) {
    auto stream = IdentityStream::Open(*control_);
    EXPECT_TRUE(stream.ok()) << stream.status();
    bssl::UniquePtr<EVP_PKEY> key;
    (*stream)->Write(HelloRequest(CreateToken(id)));
    (*stream)->Write(CsrRequest(id, &key));
    std::vector<WatchResponse> responses;
    const grpc::Status status = (*stream)->Drain(&responses);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(responses.size(), 2u);
    return SvidFrom(responses.back(), std::move(key));
  }

  // The audit lines (parsed) whose reason is `reason`.
  std::vector<nlohmann::json> AuditLines(const std::string& reason) {
    std::vector<nlohmann::json> out;
    for (absl::string_view line : absl::StrSplit(
             ReadFileOrEmpty(control_->state_dir() + "/audit.log"), '\n', absl::SkipEmpty())) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("reason", "") == reason) out.push_back(j);
    }
    return out;
  }

  nlohmann::json State() {
    return nlohmann::json::parse(HttpGet(control_->admin_url() + "/api/v1/state").body, nullptr,
                                 false);
  }

  std::string dir_;
  std::unique_ptr<ControlProcess> control_;
};

TEST_F(ControlServerStreamTest, FirstSvidByJoinTokenThenRenewalOverMtlsWithIt) {
  StartControl();
  auto stream = IdentityStream::Open(*control_);
  ASSERT_TRUE(stream.ok()) << stream.status();
  bssl::UniquePtr<EVP_PKEY> key;
  ASSERT_TRUE((*stream)->Write(HelloRequest(CreateToken(kWorkload))));
  WatchResponse bundle;
  ASSERT_TRUE((*stream)->Read(&bundle));
  ASSERT_TRUE(bundle.has_bundle());
  EXPECT_EQ(bundle.bundle().trust_domains(0).trust_domain(), "example.org");
  ASSERT_TRUE((*stream)->Write(CsrRequest(kWorkload, &key, 9)));
  std::vector<WatchResponse> responses;
  const grpc::Status first = (*stream)->Drain(&responses);
  ASSERT_TRUE(first.ok()) << first.error_message();  // one SVID, then OK
  ASSERT_EQ(responses.size(), 1u);
  ASSERT_TRUE(responses[0].has_svid());
  EXPECT_EQ(responses[0].svid().request_id(), 9u);
  Svid svid = SvidFrom(responses[0], std::move(key));
  EXPECT_EQ(identity::SpiffeIdOf(svid.chain[0].get())->ToString(), kWorkload);

  // Renewal: the new SVID authenticates the stream; no bootstrap credential.
  auto renewal = IdentityStream::Open(*control_, &svid);
  ASSERT_TRUE(renewal.ok()) << renewal.status();
  ASSERT_TRUE((*renewal)->Write(HelloRequest()));
  WatchResponse response;
  ASSERT_TRUE((*renewal)->Read(&response));
  ASSERT_TRUE(response.has_bundle());
  bssl::UniquePtr<EVP_PKEY> key2;
  ASSERT_TRUE((*renewal)->Write(CsrRequest(kWorkload, &key2, 10)));
  ASSERT_TRUE((*renewal)->Read(&response));
  ASSERT_TRUE(response.has_svid());
  EXPECT_EQ(response.svid().request_id(), 10u);
  Svid renewed = SvidFrom(response, std::move(key2));
  EXPECT_NE(identity::SerialHex(renewed.chain[0].get()), identity::SerialHex(svid.chain[0].get()));

  ASSERT_EQ(AuditLines("bootstrap_join_token").size(), 1u);
  ASSERT_EQ(AuditLines("renewal").size(), 1u);
  const nlohmann::json line = AuditLines("renewal")[0];
  EXPECT_EQ(line["spiffe_id"], kWorkload);
  EXPECT_EQ(line["serial"], identity::SerialHex(renewed.chain[0].get()));
  EXPECT_EQ(line["instance"], "it-proxy");
  EXPECT_EQ(line["result"], "OK");
  EXPECT_TRUE(line["not_after"].is_string());

  // The overview sees the workload connected, and metrics count both kinds.
  const nlohmann::json state = State();
  ASSERT_EQ(state["workloads"].size(), 1u);
  EXPECT_EQ(state["workloads"][0]["spiffe_id"], kWorkload);
  EXPECT_EQ(state["workloads"][0]["connected"], true);
  EXPECT_EQ(state["workloads"][0]["renewals"], 1);
  const std::string metrics = HttpGet(control_->admin_url() + "/metrics").body;
  EXPECT_NE(metrics.find("palisade_control_certificates_issued_total{kind=\"renewal\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("palisade_control_streams_connected 1"), std::string::npos);
  (*renewal)->CloseWrites();
  EXPECT_TRUE((*renewal)->Drain().ok());
}

TEST_F(ControlServerStreamTest, BadServiceAccountTokenIsUnauthenticatedAndAudited) {
  TestJwtIssuer jwt;
  const std::string jwks = dir_ + "/jwks.json";
  ASSERT_TRUE(WriteFile(jwks, jwt.JwksJson()));
  StartControl({"--jwks_file=" + jwks, "--sa_issuer=https://k8s", "--sa_audience=palisade"});
  // A good token works...
  auto good = IdentityStream::Open(*control_);
  ASSERT_TRUE(good.ok());
  bssl::UniquePtr<EVP_PKEY> key;
  (*good)->Write(HelloRequest(
      "", jwt.Sign("RS256",
                   TestJwtIssuer::Claims("https://k8s", "palisade", "shop", "cart", absl::Now()))));
  (*good)->Write(CsrRequest("spiffe://example.org/ns/shop/sa/cart", &key));
  EXPECT_TRUE((*good)->Drain().ok());
  // ...one signed by another key does not.
  TestJwtIssuer stranger;
  auto bad = IdentityStream::Open(*control_);
  ASSERT_TRUE(bad.ok());
  (*bad)->Write(
      HelloRequest("", stranger.Sign("ES256", TestJwtIssuer::Claims("https://k8s", "palisade",
                                                                    "shop", "cart", absl::Now()))));
  const grpc::Status status = (*bad)->Drain();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_EQ(AuditLines("token_bad_signature").size(), 1u);
  EXPECT_EQ(AuditLines("token_bad_signature")[0]["result"], "UNAUTHENTICATED");
}

// The API server's signing keys rotate: a new JWKS file is picked up on
// SIGHUP, and a broken one never replaces the keys in use.
TEST_F(ControlServerStreamTest, ReloadsTheJwksOnSighupAndKeepsItWhenTheNewFileIsBad) {
  TestJwtIssuer old_keys;
  TestJwtIssuer new_keys;
  const std::string jwks = dir_ + "/jwks.json";
  ASSERT_TRUE(WriteFile(jwks, old_keys.JwksJson()));
  StartControl({"--jwks_file=" + jwks, "--sa_issuer=https://k8s", "--sa_audience=palisade"});
  // The status of bootstrapping with a token that `issuer` signed.
  auto bootstrap_with = [&](TestJwtIssuer& issuer) {
    auto stream = IdentityStream::Open(*control_);
    EXPECT_TRUE(stream.ok()) << stream.status();
    if (!stream.ok()) return grpc::StatusCode::UNKNOWN;
    bssl::UniquePtr<EVP_PKEY> key;
    (*stream)->Write(
        HelloRequest("", issuer.Sign("ES256", TestJwtIssuer::Claims("https://k8s", "palisade",
                                                                    "shop", "cart", absl::Now()))));
    (*stream)->Write(CsrRequest("spiffe://example.org/ns/shop/sa/cart", &key));
    return (*stream)->Drain().error_code();
  };
  auto log_count = [&](const std::string& text) {
    const std::string log = control_->process().Output();
    size_t count = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++count;
    return count;
  };
  EXPECT_EQ(bootstrap_with(old_keys), grpc::StatusCode::OK);
  EXPECT_EQ(bootstrap_with(new_keys), grpc::StatusCode::UNAUTHENTICATED);

  ASSERT_TRUE(WriteFile(jwks, new_keys.JwksJson()));
  control_->process().Signal(SIGHUP);
  ASSERT_TRUE(
      WaitFor([&] { return log_count("service-account keys reloaded") == 1; }, absl::Seconds(10)))
      << control_->process().Output();
  EXPECT_EQ(bootstrap_with(new_keys), grpc::StatusCode::OK);
  EXPECT_EQ(bootstrap_with(old_keys), grpc::StatusCode::UNAUTHENTICATED);

  ASSERT_TRUE(WriteFile(jwks, R"({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})"));
  control_->process().Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return log_count("service-account keys not reloaded") == 1; },
                      absl::Seconds(10)))
      << control_->process().Output();
  EXPECT_THAT(control_->process().Output(), HasSubstr("unsupported kty"));
  EXPECT_EQ(bootstrap_with(new_keys), grpc::StatusCode::OK);
  const std::string metrics = HttpGet(control_->admin_url() + "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("palisade_control_jwks_loads_total{result=\"accepted\"} 2"));
  EXPECT_THAT(metrics, HasSubstr("palisade_control_jwks_loads_total{result=\"refused\"} 1"));
}

// Every palisade_control_ metric the control plane's alert rules use is one
// this binary exports (after one refused stream, so the refusal counter has
// a series, and with one federated trust domain, so its per-domain gauges
// do).
TEST_F(ControlServerStreamTest, EveryControlAlertRuleNamesAnExportedMetric) {
  const TestPki partner(TestPki::Options{.trust_domain = "partner.test"});
  WriteFileOrDie(dir_ + "/partner.pem", partner.BundlePem());
  WriteFileOrDie(dir_ + "/federation.yaml",
                 "federation:\n"
                 "  - trust_domain: partner.test\n"
                 "    bundle_endpoint_url: https://127.0.0.1:1/\n"
                 "    profile: https_spiffe\n"
                 "    endpoint_spiffe_id: spiffe://partner.test/palisade/control\n"
                 "    initial_bundle_file: " +
                     dir_ + "/partner.pem\n");
  StartControl({"--federation_file=" + dir_ + "/federation.yaml"});
  auto stream = IdentityStream::Open(*control_);
  ASSERT_TRUE(stream.ok()) << stream.status();
  (*stream)->Write(HelloRequest("pjt.not-a-token"));
  EXPECT_EQ((*stream)->Drain().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const std::string metrics = HttpGet(control_->admin_url() + "/metrics").body;
  const std::string rules = ReadFileOrEmpty("deploy/prometheus/palisade-control-alerts.yml");
  ASSERT_FALSE(rules.empty());
  const std::regex name("palisade_control_[a-z_]*[a-z]");
  int checked = 0;
  for (auto it = std::sregex_iterator(rules.begin(), rules.end(), name);
       it != std::sregex_iterator(); ++it, ++checked) {
    EXPECT_THAT(metrics, HasSubstr("\n" + it->str())) << it->str() << " is not exported";
  }
  EXPECT_GE(checked, 4);
}

TEST_F(ControlServerStreamTest, JoinTokenUsedTwiceIsRefused) {
  StartControl();
  const std::string token = CreateToken(kWorkload);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto stream = IdentityStream::Open(*control_);
    ASSERT_TRUE(stream.ok());
    bssl::UniquePtr<EVP_PKEY> key;
    (*stream)->Write(HelloRequest(token));
    (*stream)->Write(CsrRequest(kWorkload, &key));
    const grpc::Status status = (*stream)->Drain();
    if (attempt == 0) {
      EXPECT_TRUE(status.ok()) << status.error_message();
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    }
  }
  ASSERT_EQ(AuditLines("join_token_used").size(), 1u);
}

TEST_F(ControlServerStreamTest, CsrForAnotherIdentityIsPermissionDenied) {
  StartControl();
  auto stream = IdentityStream::Open(*control_);
  ASSERT_TRUE(stream.ok());
  bssl::UniquePtr<EVP_PKEY> key;
  (*stream)->Write(HelloRequest(CreateToken(kWorkload)));
  (*stream)->Write(CsrRequest("spiffe://example.org/ns/kube-system/sa/admin", &key));
  const grpc::Status status = (*stream)->Drain();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  const auto lines = AuditLines("wrong_identity");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["spiffe_id"], "spiffe://example.org/ns/kube-system/sa/admin");
  EXPECT_EQ(lines[0]["result"], "PERMISSION_DENIED");
}

TEST_F(ControlServerStreamTest, DeregisteredWorkloadCannotRenewAndItsStreamIsClosed) {
  StartControl();
  Svid svid = Bootstrap(kWorkload);
  auto open = IdentityStream::Open(*control_, &svid);
  ASSERT_TRUE(open.ok());
  WatchResponse response;
  (*open)->Write(HelloRequest());
  ASSERT_TRUE((*open)->Read(&response));

  CommandResult r = control_->Cli({"deregister", "--spiffe_id=" + std::string(kWorkload)});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"streams_closed\": 1"), std::string::npos) << r.output;
  EXPECT_EQ((*open)->Drain().error_code(), grpc::StatusCode::PERMISSION_DENIED);

  auto renewal = IdentityStream::Open(*control_, &svid);
  ASSERT_TRUE(renewal.ok());
  bssl::UniquePtr<EVP_PKEY> key;
  (*renewal)->Write(HelloRequest());
  (*renewal)->Write(CsrRequest(kWorkload, &key));
  const grpc::Status status = (*renewal)->Drain();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("de-registered"), std::string::npos);
  EXPECT_GE(AuditLines("deregistered").size(), 2u);
}

TEST_F(ControlServerStreamTest, ClientCertificateFromAnotherCaFailsTheHandshake) {
  StartControl();
  TestPki stranger({.trust_domain = "example.org"});
  Credential leaf = stranger.IssueLeaf("/host/db-1");
  Svid svid;
  for (X509* c : stranger.Chain(leaf)) {
    X509_up_ref(c);
    svid.chain.emplace_back(c);
  }
  svid.key = std::move(leaf.key);
  auto stream = IdentityStream::Open(*control_, &svid);
  if (stream.ok()) {
    // TLS 1.3: the client finishes first; the refusal arrives with the first RPC.
    (*stream)->Write(HelloRequest());
    EXPECT_EQ((*stream)->Drain().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        return HttpGet(control_->admin_url() + "/metrics")
                   .body.find(
                       "palisade_control_tls_handshakes_total{result=\"untrusted_chain\"}") !=
               std::string::npos;
      },
      absl::Seconds(5)));
}

TEST_F(ControlServerStreamTest, RestartWithTheSameStateKeepsTheRootAndTokens) {
  StartControl();
  const std::string root = State()["bundle"]["roots"][0]["fingerprint_sha256"];
  const std::string bundle = ReadFileOrEmpty(control_->state_dir() + "/bundle.pem");
  const std::string token = CreateToken(kWorkload);
  ASSERT_EQ(control_->process().Stop(), 0);
  StartControl();
  EXPECT_EQ(State()["bundle"]["roots"][0]["fingerprint_sha256"], root);
  EXPECT_EQ(ReadFileOrEmpty(control_->state_dir() + "/bundle.pem"), bundle);
  EXPECT_EQ(HttpGet(control_->admin_url() + "/api/v1/bundle.pem").body, bundle);
  // The token made before the restart still bootstraps.
  auto stream = IdentityStream::Open(*control_);
  ASSERT_TRUE(stream.ok());
  bssl::UniquePtr<EVP_PKEY> key;
  (*stream)->Write(HelloRequest(token));
  (*stream)->Write(CsrRequest(kWorkload, &key));
  EXPECT_TRUE((*stream)->Drain().ok());
}

TEST_F(ControlServerStreamTest, CorruptStateIsRefusedNamingTheFile) {
  StartControl();
  ASSERT_EQ(control_->process().Stop(), 0);
  const std::string key = control_->state_dir() + "/ca/gen-1/intermediate.key";
  std::string pem = ReadFileOrEmpty(key);
  ASSERT_FALSE(pem.empty());
  pem.resize(pem.size() / 2);  // as a crash mid-write would leave it
  ASSERT_TRUE(WriteFile(key, pem));
  auto refused = ControlProcess::Start(dir_);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(key), std::string::npos) << refused.status();
  EXPECT_NE(refused.status().message().find("SHA-256"), std::string::npos) << refused.status();
}

TEST_F(ControlServerStreamTest, CliReportsUsageErrorsAndAnUnreachableServer) {
  CommandResult no_id = RunCommand({kControlBinary, "token", "create"});
  EXPECT_EQ(no_id.exit_code, 2);
  EXPECT_NE(no_id.output.find("--spiffe_id"), std::string::npos);
  CommandResult unknown = RunCommand({kControlBinary, "launch"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("unknown subcommand \"launch\""), std::string::npos)
      << unknown.output;
  CommandResult down = RunCommand({kControlBinary, "status", "--admin=127.0.0.1:1"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.output.find("cannot reach"), std::string::npos) << down.output;
  CommandResult serve = RunCommand({kControlBinary, "serve", "--state_dir=" + dir_ + "/s"});
  EXPECT_EQ(serve.exit_code, 2);
  EXPECT_NE(serve.output.find("--trust_domain"), std::string::npos) << serve.output;
  CommandResult open_admin = RunCommand({kControlBinary, "serve", "--trust_domain=example.org",
                                         "--state_dir=" + dir_ + "/s", "--admin=0.0.0.0:0"});
  EXPECT_EQ(open_admin.exit_code, 2);
  EXPECT_NE(open_admin.output.find("loopback"), std::string::npos) << open_admin.output;
}

TEST_F(ControlServerStreamTest, RootRolloverRunsThroughEveryPhaseWithAProxyThatKeepsUp) {
  StartControl({"--rollover_propagating_timeout=30s", "--rollover_rekeying_timeout=30s",
                "--rollover_retiring_timeout=30s"});
  Svid svid = Bootstrap(kWorkload);
  const std::string old_root = State()["bundle"]["roots"][0]["fingerprint_sha256"];
  auto stream = IdentityStream::Open(*control_, &svid);
  ASSERT_TRUE(stream.ok());
  WatchResponse response;
  (*stream)->Write(HelloRequest());
  ASSERT_TRUE((*stream)->Read(&response));
  ASSERT_EQ(response.bundle().version(), 1u);

  CommandResult start = control_->Cli({"rollover", "start"});
  ASSERT_EQ(start.exit_code, 0) << start.output;
  EXPECT_NE(start.output.find("propagating"), std::string::npos);
  // propagating: the new bundle arrives; acknowledge it.
  ASSERT_TRUE((*stream)->Read(&response));
  ASSERT_TRUE(response.has_bundle());
  EXPECT_EQ(response.bundle().version(), 2u);
  EXPECT_EQ(response.bundle().trust_domains(0).root_certificates_der_size(), 2);
  WatchRequest ack;
  ack.mutable_bundle_ack()->set_version(2);
  (*stream)->Write(ack);
  // rekeying: a re-key request; answer with a CSR and get a leaf from the new root.
  do {
    ASSERT_TRUE((*stream)->Read(&response));
  } while (!response.has_rekey());
  EXPECT_EQ(response.rekey().reason(), "root_rollover");
  bssl::UniquePtr<EVP_PKEY> key;
  (*stream)->Write(CsrRequest(kWorkload, &key));
  do {
    ASSERT_TRUE((*stream)->Read(&response));
  } while (!response.has_svid());
  const std::string new_root = State()["rollover"]["new_root"];
  EXPECT_NE(new_root, old_root);
  // retiring: report no connections on the old root; the old root goes.
  WatchRequest report;
  auto* usage = report.mutable_connection_report()->add_roots();
  usage->set_fingerprint_sha256(new_root);
  usage->set_live_connections(1);
  (*stream)->Write(report);
  do {
    ASSERT_TRUE((*stream)->Read(&response));
  } while (!(response.has_bundle() && response.bundle().version() == 3));
  EXPECT_EQ(response.bundle().trust_domains(0).root_certificates_der_size(), 1);
  ASSERT_TRUE(WaitFor([&] { return State()["rollover"]["phase"] == "idle"; }, absl::Seconds(10)));
  const nlohmann::json state = State();
  EXPECT_EQ(state["bundle"]["roots"].size(), 1u);
  EXPECT_EQ(state["bundle"]["roots"][0]["fingerprint_sha256"], new_root);
  EXPECT_EQ(state["rollover"]["history"].size(), 4u) << state["rollover"].dump();
  CommandResult status = control_->Cli({"rollover", "status"});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.output.find("\"phase\": \"idle\""), std::string::npos);
  (*stream)->CloseWrites();
  (*stream)->Drain();
}

}  // namespace
}  // namespace palisade::testing
