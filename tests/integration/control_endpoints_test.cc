// palisade-control's surfaces beyond the identity stream, with the real
// binary and real clients (curl): the HTTPS admission webhook answering an
// AdmissionReview as the API server would send it, the read-only public
// port, the overview page, `palisade-control inject`, and the webhook
// certificate renewed in place.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "tests/util/control_process.h"
#include "tests/util/process.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

// The address a "... up address=ip:port" log line names.
std::string LoggedAddress(Process& process, const std::string& event) {
  std::string address;
  WaitFor(
      [&] {
        const std::string log = process.Output();
        const std::string marker = event + " address=";
        const size_t at = log.find(marker);
        if (at == std::string::npos) return false;
        const size_t start = at + marker.size();
        address = log.substr(start, log.find_first_of(" \n", start) - start);
        return true;
      },
      absl::Seconds(10));
  return address;
}

class ControlEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("control-endpoints");
    TestPki::Options options;
    options.trust_domain = "cluster.local";
    pki_ = TestPki(options);
    pki_.WriteFiles(dir_, "webhook", WebhookLeaf());
    auto control =
        ControlProcess::Start(dir_, {"--trust_domain=cluster.local", "--public_listen=127.0.0.1:0",
                                     "--reload_interval=300ms", "--webhook_listen=127.0.0.1:0",
                                     "--webhook_tls_cert=" + dir_ + "/webhook.pem",
                                     "--webhook_tls_key=" + dir_ + "/webhook.key",
                                     "--inject_proxy_image=registry.example/palisade/proxy:test"});
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);
  }

  // A fresh certificate for the webhook: an ordinary DNS name, not an SVID.
  Credential WebhookLeaf() const {
    CertSpec spec = pki_.LeafSpec("");
    spec.uri_sans.clear();
    spec.dns_sans = {"localhost"};
    return pki_.IssueLeaf(spec);
  }

  // The certificate (PEM) the webhook port serves to a new client, as
  // openssl reads it.
  std::string ServedCertificate(const std::string& port) {
    const CommandResult r = RunCommand({"sh", "-c",
                                        absl::StrCat("openssl s_client -connect 127.0.0.1:", port,
                                                     " </dev/null 2>/dev/null | openssl x509")},
                                       absl::Seconds(10));
    return std::string(absl::StripAsciiWhitespace(r.output));
  }

  size_t LogCount(const std::string& text) {
    const std::string log = control_->process().Output();
    size_t count = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++count;
    return count;
  }

  std::string dir_;
  TestPki pki_;
  std::unique_ptr<ControlProcess> control_;
};

TEST_F(ControlEndpointsTest, WebhookAnswersAnAdmissionReviewOverHttpsWithAPatch) {
  const std::string address = LoggedAddress(control_->process(), "admission webhook up");
  ASSERT_FALSE(address.empty()) << control_->process().Output();
  const std::string port = address.substr(address.rfind(':') + 1);
  const CommandResult r = RunCommand(
      {"curl", "-s", "--cacert", dir_ + "/bundle.pem", "-H", "Content-Type: application/json",
       "--data-binary", "@control/inject/testdata/admission_review_pod.json",
       "https://localhost:" + port + "/inject"},
      absl::Seconds(15));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json review = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_FALSE(review.is_discarded()) << r.output;
  EXPECT_EQ(review["kind"], "AdmissionReview");
  EXPECT_EQ(review["response"]["allowed"], true);
  EXPECT_EQ(review["response"]["patchType"], "JSONPatch");
  const std::string patch = review["response"]["patch"].get<std::string>();
  const CommandResult decoded = RunCommand({"base64", "-d"}, absl::Seconds(5), patch);
  EXPECT_THAT(decoded.output, HasSubstr("registry.example/palisade/proxy:test"));
  EXPECT_THAT(decoded.output, HasSubstr("palisade-proxy"));
}

TEST_F(ControlEndpointsTest, WebhookRefusesAClientThatDoesNotTrustItsCertificate) {
  const std::string address = LoggedAddress(control_->process(), "admission webhook up");
  const std::string port = address.substr(address.rfind(':') + 1);
  // curl without the CA: the TLS handshake must fail (exit 60: peer certificate).
  const CommandResult r =
      RunCommand({"curl", "-s", "https://localhost:" + port + "/inject"}, absl::Seconds(15));
  EXPECT_EQ(r.exit_code, 60) << r.output;
}

// cert-manager renews the webhook's certificate in place: the new one is
// served without a restart, and a broken file never replaces it.
TEST_F(ControlEndpointsTest, WebhookServesARenewedCertificateAndKeepsItWhenTheFileBreaks) {
  const std::string address = LoggedAddress(control_->process(), "admission webhook up");
  const std::string port = address.substr(address.rfind(':') + 1);
  const std::string first = ServedCertificate(port);
  ASSERT_THAT(first, HasSubstr("BEGIN CERTIFICATE"));

  const Credential renewed = WebhookLeaf();
  const std::string renewed_pem(
      absl::StripAsciiWhitespace(identity::CertificateToPem(renewed.cert.get())));
  ASSERT_NE(renewed_pem, first);
  const std::string staging = MakeTempDir("staging");
  pki_.WriteFiles(staging, "webhook", renewed);
  ASSERT_EQ(std::rename((staging + "/webhook.key").c_str(), (dir_ + "/webhook.key").c_str()), 0);
  ASSERT_EQ(std::rename((staging + "/webhook.pem").c_str(), (dir_ + "/webhook.pem").c_str()), 0);
  ASSERT_TRUE(WaitFor([&] { return ServedCertificate(port) == renewed_pem; }, absl::Seconds(15)))
      << control_->process().Output();
  EXPECT_GE(LogCount("webhook certificate reloaded"), 1u);

  const size_t refusals = LogCount("webhook certificate not reloaded");
  ASSERT_TRUE(WriteFile(dir_ + "/webhook.pem", "not a certificate\n"));
  ASSERT_TRUE(WaitFor([&] { return LogCount("webhook certificate not reloaded") > refusals; },
                      absl::Seconds(10)))
      << control_->process().Output();
  EXPECT_EQ(ServedCertificate(port), renewed_pem);
  const CommandResult r =
      RunCommand({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                  dir_ + "/bundle.pem", "https://localhost:" + port + "/healthz"},
                 absl::Seconds(15));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(ControlEndpointsTest, PublicPortServesOnlyHealthReadinessAndMetrics) {
  const std::string address = LoggedAddress(control_->process(), "health and metrics server up");
  ASSERT_FALSE(address.empty()) << control_->process().Output();
  const std::string base = "http://" + address;
  EXPECT_EQ(HttpGet(base + "/healthz").status, 200);
  EXPECT_EQ(HttpGet(base + "/ready").status, 200);
  EXPECT_THAT(HttpGet(base + "/metrics").body, HasSubstr("palisade_control_"));
  EXPECT_EQ(HttpGet(base + "/api/v1/state").status, 404);
  EXPECT_EQ(HttpPost(base + "/api/v1/rollover/start").status, 404);
  EXPECT_EQ(HttpGet(base + "/").status, 404);
}

TEST_F(ControlEndpointsTest, AdminPortServesTheOverviewPageAndItsState) {
  const HttpResult page = HttpGet(control_->admin_url() + "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.body, HasSubstr("Palisade mesh overview"));
  EXPECT_THAT(page.body, HasSubstr("/api/v1/state"));
  EXPECT_THAT(page.body, ::testing::Not(HasSubstr("http://")));  // nothing from elsewhere
  const nlohmann::json state =
      nlohmann::json::parse(HttpGet(control_->admin_url() + "/api/v1/state").body, nullptr, false);
  ASSERT_FALSE(state.is_discarded());
  EXPECT_EQ(state["trust_domain"], "cluster.local");
  EXPECT_TRUE(state.contains("now"));
  EXPECT_TRUE(state["bundle"]["roots"].is_array());
}

TEST_F(ControlEndpointsTest, InjectSubcommandInjectsAManifest) {
  const CommandResult r =
      RunCommand({kControlBinary, "inject", "--proxy_image=registry.example/palisade/proxy:test",
                  "deploy/kubernetes/sample-app.yaml"},
                 absl::Seconds(15));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("restartPolicy: Always"));
  EXPECT_THAT(r.output, HasSubstr("registry.example/palisade/proxy:test"));
}

}  // namespace
}  // namespace palisade::testing
