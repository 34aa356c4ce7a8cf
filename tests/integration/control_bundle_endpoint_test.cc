// palisade-control's SPIFFE bundle endpoint (--bundle_endpoint_listen), with
// the real binary and real clients: curl and openssl s_client as any other
// organisation would use them, and the project's HttpsClient judging the
// endpoint as the https_spiffe profile says (the control plane's SPIFFE ID,
// verified against the bundle). The document must hold exactly the roots of
// the admin API's bundle, follow a root rollover and the serving SVID's
// renewals without a restart, and never ask for a client certificate.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/spiffe_bundle.h"
#include "runtime/http/https_client.h"
#include "runtime/verify/server_name_verifier.h"
#include "tests/util/control_process.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

// Fingerprints of every certificate of `pem`.
std::set<std::string> Fingerprints(const std::string& pem) {
  std::set<std::string> out;
  auto certs = identity::ParsePemCertificates(pem);
  EXPECT_TRUE(certs.ok()) << certs.status();
  if (!certs.ok()) return out;
  for (const auto& c : *certs) out.insert(identity::Sha256Fingerprint(c.get()));
  return out;
}

std::set<std::string> Fingerprints(const identity::SpiffeBundle& bundle) {
  std::set<std::string> out;
  for (const auto& c : bundle.x509_authorities) out.insert(identity::Sha256Fingerprint(c.get()));
  return out;
}

class ControlBundleEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("control-bundle-endpoint");
    // A short SVID lifetime: the serving SVID renews every couple of seconds.
    auto control = ControlProcess::Start(
        dir_, {"--bundle_endpoint_listen=127.0.0.1:0",
               "--bundle_endpoint_address_file=" + dir_ + "/bundle_endpoint.address",
               "--bundle_endpoint_refresh_hint=90s", "--svid_ttl=4s"});
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);
    ASSERT_TRUE(WaitFor(
        [&] {
          address_ = std::string(
              absl::StripAsciiWhitespace(ReadFileOrEmpty(dir_ + "/bundle_endpoint.address")));
          return !address_.empty();
        },
        absl::Seconds(10)));
    url_ = "https://" + address_ + "/";
  }

  // The admin API's bundle (PEM), as proxies get it.
  std::string AdminBundlePem() const {
    HttpResult r = control_->AdminGet("/api/v1/bundle.pem");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  }

  // GET / with HttpsClient, the server judged by `spiffe_id` under `roots_pem`.
  absl::StatusOr<http::HttpsResponse> Fetch(const std::string& roots_pem,
                                            const std::string& spiffe_id) const {
    absl::StatusOr<verify::ServerRoots> roots = verify::ServerRoots::FromPem(roots_pem);
    if (!roots.ok()) return roots.status();
    http::HttpsClient::Options options;
    options.timeout = absl::Seconds(5);
    options.expected_spiffe_id = spiffe_id;
    absl::StatusOr<std::unique_ptr<http::HttpsClient>> client = http::HttpsClient::Create(
        std::make_shared<const verify::ServerRoots>(*std::move(roots)), options);
    if (!client.ok()) return client.status();
    http::HttpsRequest request;
    request.url = url_;
    return (*client)->Fetch(request);
  }

  // The document, fetched and parsed as a federating control plane would.
  absl::StatusOr<identity::SpiffeBundle> FetchBundle() const {
    absl::StatusOr<http::HttpsResponse> response =
        Fetch(AdminBundlePem(), control_->server_spiffe_id());
    if (!response.ok()) return response.status();
    if (response->status != 200) {
      return absl::InternalError(absl::StrCat("status ", response->status));
    }
    return identity::ParseSpiffeBundle(response->body, control_->trust_domain());
  }

  // The leaf the endpoint presents, read by openssl s_client (no client
  // certificate offered).
  bssl::UniquePtr<X509> PresentedLeaf() const {
    CommandResult r =
        RunCommand({"openssl", "s_client", "-connect", address_, "-showcerts"}, absl::Seconds(10));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    auto certs = identity::ParsePemCertificates(r.output);
    if (!certs.ok() || certs->empty()) {
      ADD_FAILURE() << "no certificate from s_client: " << r.output;
      return nullptr;
    }
    return std::move((*certs)[0]);
  }

  std::string dir_;
  std::string address_;
  std::string url_;
  std::unique_ptr<ControlProcess> control_;
};

TEST_F(ControlBundleEndpointTest, ServesTheAdminBundleAsASpiffeBundleDocument) {
  ASSERT_OK_AND_ASSIGN(identity::SpiffeBundle bundle, FetchBundle());
  EXPECT_EQ(Fingerprints(bundle), Fingerprints(AdminBundlePem()));
  EXPECT_EQ(bundle.x509_authorities.size(), 1u);
  ASSERT_TRUE(bundle.sequence.has_value());
  EXPECT_GE(*bundle.sequence, 1u);
  EXPECT_EQ(bundle.refresh_hint, absl::Seconds(90));

  // curl, as anyone: JSON, without a client certificate. (-k: an SVID names
  // no DNS host; the SPIFFE ID check is HttpsClient's above.)
  CommandResult curl =
      RunCommand({"curl", "-sS", "-k", "-D", "-", "--max-time", "5", url_}, absl::Seconds(10));
  ASSERT_EQ(curl.exit_code, 0) << curl.output;
  EXPECT_THAT(absl::AsciiStrToLower(curl.output), HasSubstr("content-type: application/json"));
  const std::string body = curl.output.substr(curl.output.find("\r\n\r\n") + 4);
  ASSERT_OK_AND_ASSIGN(identity::SpiffeBundle by_curl,
                       identity::ParseSpiffeBundle(body, control_->trust_domain()));
  EXPECT_EQ(Fingerprints(by_curl), Fingerprints(bundle));

  // Only GET / is the document.
  CommandResult other = RunCommand(
      {"curl", "-s", "-k", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", url_ + "x"},
      absl::Seconds(10));
  EXPECT_EQ(other.output, "404");
}

TEST_F(ControlBundleEndpointTest, AuthenticatesWithTheControlPlanesOwnSvid) {
  bssl::UniquePtr<X509> leaf = PresentedLeaf();
  ASSERT_NE(leaf, nullptr);
  ASSERT_OK_AND_ASSIGN(identity::SpiffeId id, identity::SpiffeIdOf(leaf.get()));
  EXPECT_EQ(id.ToString(), control_->server_spiffe_id());

  // HttpsClient accepts the endpoint for that ID only, and only under this
  // trust domain's bundle.
  EXPECT_TRUE(Fetch(AdminBundlePem(), control_->server_spiffe_id()).ok());
  EXPECT_THAT(Fetch(AdminBundlePem(), "spiffe://example.org/someone/else"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("is an SVID of")));
  TestPki other({.trust_domain = "example.org"});
  EXPECT_THAT(Fetch(other.BundlePem(), control_->server_spiffe_id()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("does not verify")));
}

TEST_F(ControlBundleEndpointTest, FollowsTheServingSvidsRenewals) {
  bssl::UniquePtr<X509> first = PresentedLeaf();
  ASSERT_NE(first, nullptr);
  const std::string first_serial = identity::SerialHex(first.get());
  std::string serial = first_serial;
  // svid_ttl=4s: renewed at half-life, so within a few seconds.
  EXPECT_TRUE(WaitFor(
      [&] {
        bssl::UniquePtr<X509> leaf = PresentedLeaf();
        if (leaf != nullptr) serial = identity::SerialHex(leaf.get());
        return serial != first_serial;
      },
      absl::Seconds(15), absl::Milliseconds(500)))
      << "the endpoint still presents serial " << first_serial;
  EXPECT_TRUE(Fetch(AdminBundlePem(), control_->server_spiffe_id()).ok());
}

TEST_F(ControlBundleEndpointTest, PublishesTheNewRootWhenARolloverStartsWithoutARestart) {
  ASSERT_OK_AND_ASSIGN(identity::SpiffeBundle before, FetchBundle());
  const std::set<std::string> old_roots = Fingerprints(before);
  CommandResult r = control_->Cli({"rollover", "start"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The new root: in the admin bundle now, not in the old document. (With no
  // proxy to wait for, the rollover may run to its end within a few ticks,
  // retiring the old root: the document must then follow that too.)
  std::set<std::string> new_roots;
  for (const std::string& root : Fingerprints(AdminBundlePem())) {
    if (old_roots.count(root) == 0) new_roots.insert(root);
  }
  ASSERT_EQ(new_roots.size(), 1u);
  const std::string new_root = *new_roots.begin();

  absl::StatusOr<identity::SpiffeBundle> after;
  std::set<std::string> admin_roots;
  EXPECT_TRUE(WaitFor(
      [&] {
        after = FetchBundle();
        admin_roots = Fingerprints(AdminBundlePem());
        return after.ok() && Fingerprints(*after).count(new_root) == 1 &&
               Fingerprints(*after) == admin_roots;
      },
      absl::Seconds(10), absl::Milliseconds(100)))
      << (after.ok() ? "the document lacks the new root or differs from the admin bundle"
                     : after.status().ToString());
  ASSERT_TRUE(after.ok());
  ASSERT_TRUE(after->sequence.has_value());
  EXPECT_GT(*after->sequence, *before.sequence);
  // While both roots are in the bundle, both are in the document.
  if (admin_roots.size() == 2) {
    for (const std::string& root : old_roots) EXPECT_EQ(Fingerprints(*after).count(root), 1u);
  }
}

// Profile https_web: the operator's web PKI certificate instead of the SVID;
// a client checks the host name against its own CA, and gets the same document.
TEST(ControlBundleEndpointWebTest, ServesTheDocumentWithTheOperatorsCertificate) {
  const std::string dir = MakeTempDir("control-bundle-endpoint-web");
  TestPki web({.trust_domain = "web.example"});
  CertSpec spec = web.LeafSpec("");
  spec.uri_sans.clear();
  spec.dns_sans = {"localhost"};
  web.WriteFiles(dir, "web", web.IssueLeaf(spec));
  auto control = ControlProcess::Start(
      dir, {"--bundle_endpoint_listen=127.0.0.1:0",
            "--bundle_endpoint_address_file=" + dir + "/bundle_endpoint.address",
            "--bundle_endpoint_tls_cert=" + dir + "/web.pem",
            "--bundle_endpoint_tls_key=" + dir + "/web.key"});
  ASSERT_TRUE(control.ok()) << control.status();
  std::string address;
  ASSERT_TRUE(WaitFor(
      [&] {
        address = std::string(
            absl::StripAsciiWhitespace(ReadFileOrEmpty(dir + "/bundle_endpoint.address")));
        return !address.empty();
      },
      absl::Seconds(10)));
  const std::string port = address.substr(address.rfind(':') + 1);
  CommandResult curl =
      RunCommand({"curl", "-sS", "--max-time", "5", "--cacert", dir + "/bundle.pem", "--resolve",
                  "localhost:" + port + ":127.0.0.1", "https://localhost:" + port + "/"},
                 absl::Seconds(10));
  ASSERT_EQ(curl.exit_code, 0) << curl.output;
  ASSERT_OK_AND_ASSIGN(identity::SpiffeBundle bundle,
                       identity::ParseSpiffeBundle(curl.output, (*control)->trust_domain()));
  HttpResult admin = (*control)->AdminGet("/api/v1/bundle.pem");
  EXPECT_EQ(Fingerprints(bundle), Fingerprints(admin.body));
}

}  // namespace
}  // namespace palisade::testing
