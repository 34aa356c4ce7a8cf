// Issue 16 (federation), the control plane's side: palisade-control fetches
// a foreign trust domain's SPIFFE bundle endpoint (https_spiffe, a real HTTPS
// server on loopback presenting that domain's SVID), pushes the bundle on
// proxies' identity streams beside its own, refuses every bad answer (each
// counted by its rule) keeping the last good bundle, and keeps it across a
// restart. Real processes and real TLS streams.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/spiffe_bundle.h"
#include "runtime/sync/mutex.h"
#include "tests/integration/identity_stream.h"
#include "tests/util/control_process.h"
#include "tests/util/fake_bundle_endpoint.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

using control::v1::WatchResponse;

constexpr char kPartner[] = "partner.test";
constexpr char kEndpointId[] = "spiffe://partner.test/palisade/control";
constexpr char kWorkload[] = "spiffe://example.org/app/web";

// The DER roots of `trust_domain` in `response`'s bundle; nullopt when the
// bundle does not name it.
std::optional<std::vector<std::string>> RootsOf(const WatchResponse& response,
                                                const std::string& trust_domain) {
  const control::v1::TrustBundleUpdate* bundle = response.has_bundle() ? &response.bundle()
                                                 : response.has_svid() ? &response.svid().bundle()
                                                                       : nullptr;
  if (bundle == nullptr) return std::nullopt;
  for (const auto& domain : bundle->trust_domains()) {
    if (domain.trust_domain() != trust_domain) continue;
    return std::vector<std::string>(domain.root_certificates_der().begin(),
                                    domain.root_certificates_der().end());
  }
  return std::nullopt;
}

// One renewal stream held open, every bundle it receives kept, read on a
// thread of its own (the stream ends when the control plane stops).
class BundleWatch {
 public:
  explicit BundleWatch(std::unique_ptr<IdentityStream> stream)
      : stream_(std::move(stream)), thread_([this] { Run(); }) {}
  ~BundleWatch() { thread_.join(); }
  std::vector<WatchResponse> Received() {
    sync::MutexLock lock(&mu_);
    return received_;
  }
  // The roots of `trust_domain` in the newest bundle.
  std::vector<std::string> Latest(const std::string& trust_domain) {
    sync::MutexLock lock(&mu_);
    for (auto it = received_.rbegin(); it != received_.rend(); ++it) {
      if (auto roots = RootsOf(*it, trust_domain); roots.has_value()) return *roots;
    }
    return {};
  }

 private:
  void Run() {
    WatchResponse response;
    while (stream_->Read(&response)) {
      sync::MutexLock lock(&mu_);
      received_.push_back(response);
    }
  }
  std::unique_ptr<IdentityStream> stream_;
  // The runtime's mutex: TSan sees it (Debian's absl is not instrumented).
  sync::Mutex mu_;
  std::vector<WatchResponse> received_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

class ControlFederationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("control-federation");
    const std::string initial = dir_ + "/partner-initial.pem";
    WriteFileOrDie(initial, partner_.BundlePem());
    federation_file_ = dir_ + "/federation.yaml";
    WriteFileOrDie(federation_file_, absl::StrCat("federation:\n"
                                                  "  - trust_domain: partner.test\n"
                                                  "    bundle_endpoint_url: ",
                                                  endpoint_.url(),
                                                  "\n"
                                                  "    profile: https_spiffe\n"
                                                  "    endpoint_spiffe_id: ",
                                                  kEndpointId,
                                                  "\n"
                                                  "    initial_bundle_file: ",
                                                  initial, "\n"));
  }

  void TearDown() override { StopControl(); }

  void StartControl() {
    auto control =
        ControlProcess::Start(dir_, {"--federation_file=" + federation_file_,
                                     "--federation_min_refresh=1s", "--federation_max_refresh=2s"});
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);
  }
  void StopControl() {
    if (control_ != nullptr && control_->process().Running()) {
      EXPECT_EQ(control_->process().Stop(), 0) << control_->process().Output();
    }
    watch_.reset();  // its stream ended with the server
    control_.reset();
  }

  static std::string Document(std::vector<const TestPki*> pkis, uint64_t sequence) {
    identity::SpiffeBundle b;
    b.trust_domain = kPartner;
    for (const TestPki* pki : pkis) b.x509_authorities.push_back(bssl::UpRef(pki->root().cert));
    b.sequence = sequence;
    b.refresh_hint = absl::Seconds(1);
    return identity::SerializeSpiffeBundle(b);
  }
  static std::string Der(const TestPki& pki) {
    return identity::CertificateToDer(pki.root().x509());
  }

  double Refreshes(const std::string& result) {
    return MetricValue(HttpGet(control_->admin_url() + "/metrics").body,
                       "palisade_control_federation_refreshes_total",
                       {{"trust_domain", kPartner}, {"result", result}})
        .value_or(-1);
  }
  nlohmann::json Partner() {
    const nlohmann::json state = control_->State();
    if (state.is_discarded() || !state.contains("federation") || state["federation"].empty()) {
      return nlohmann::json::object();
    }
    return state["federation"][0];
  }

  // Bootstraps a workload, then holds a renewal stream open with its SVID.
  void OpenWatch() {
    auto bootstrap = IdentityStream::Open(*control_);
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
    absl::StatusOr<nlohmann::json> token = control_->CreateJoinToken(kWorkload);
    ASSERT_TRUE(token.ok()) << token.status();
    bssl::UniquePtr<EVP_PKEY> key;
    (*bootstrap)->Write(HelloRequest((*token)["token"].get<std::string>()));
    (*bootstrap)->Write(CsrRequest(kWorkload, &key));
    std::vector<WatchResponse> responses;
    ASSERT_TRUE((*bootstrap)->Drain(&responses).ok());
    ASSERT_FALSE(responses.empty());
    svid_ = SvidFrom(responses.back(), std::move(key));
    auto renewal = IdentityStream::Open(*control_, &svid_);
    ASSERT_TRUE(renewal.ok()) << renewal.status();
    ASSERT_TRUE((*renewal)->Write(HelloRequest()));
    watch_ = std::make_unique<BundleWatch>(*std::move(renewal));
    ASSERT_TRUE(WaitFor([&] { return !watch_->Received().empty(); }, absl::Seconds(10)));
  }

  // The endpoint answers with `document` (or the SVID of `serve`) and the
  // next refresh is refused with `result`; the last good bundle stays, and
  // the stream gets nothing new for the partner.
  void ExpectRefused(const std::string& result) {
    const double before = Refreshes(result);
    const size_t pushed = watch_->Received().size();
    ASSERT_TRUE(WaitFor([&] { return Refreshes(result) > before; }, absl::Seconds(15)))
        << result << " was never counted; state: " << Partner().dump();
    const nlohmann::json partner = Partner();
    EXPECT_EQ(partner["last_result"], result);
    EXPECT_NE(partner["last_error"], "");
    EXPECT_EQ(partner["sequence"], 1);
    EXPECT_EQ(partner["roots"], 1);
    EXPECT_EQ(watch_->Received().size(), pushed) << result << " was pushed";
    EXPECT_EQ(watch_->Latest(kPartner), std::vector<std::string>{Der(partner_)});
  }

  std::string dir_;
  std::string federation_file_;
  TestPki partner_{TestPki::Options{.trust_domain = kPartner}};
  TestPki partner_next_{TestPki::Options{.trust_domain = kPartner}};
  TestPki stranger_{TestPki::Options{.trust_domain = "stranger.test"}};
  FakeBundleEndpoint endpoint_{partner_, kEndpointId};
  std::unique_ptr<ControlProcess> control_;
  Svid svid_;
  std::unique_ptr<BundleWatch> watch_;
};

TEST_F(ControlFederationTest, PushesTheForeignBundleRefusesBadAnswersAndFollowsARotation) {
  endpoint_.SetDocument(200, Document({&partner_}, 1));
  StartControl();
  // Every result is there from the start, at zero or more.
  for (const char* result :
       {"ok", "tls_error", "wrong_spiffe_id", "network_error", "http_error", "malformed",
        "wrong_trust_domain", "lower_sequence", "sequence_reused"}) {
    EXPECT_GE(Refreshes(result), 0) << result;
  }
  ASSERT_TRUE(
      WaitFor([&] { return Partner().value("last_result", "") == "ok"; }, absl::Seconds(15)))
      << Partner().dump();
  EXPECT_EQ(Partner()["sequence"], 1);
  EXPECT_EQ(Partner()["roots"], 1);
  EXPECT_EQ(Partner()["source"], "endpoint");

  OpenWatch();
  ASSERT_NE(watch_, nullptr);
  const std::vector<WatchResponse> first = watch_->Received();
  EXPECT_TRUE(RootsOf(first[0], "example.org").has_value());
  EXPECT_EQ(RootsOf(first[0], kPartner), std::vector<std::string>{Der(partner_)});
  // The admin /bundle stays this domain's own.
  const std::string own = HttpGet(control_->admin_url() + "/api/v1/bundle.pem").body;
  EXPECT_EQ(own.find(partner_.BundlePem()), std::string::npos);

  endpoint_.SetDocument(200, "{\"keys\": [");
  ExpectRefused("malformed");
  endpoint_.SetDocument(200, Document({&stranger_}, 7));
  ExpectRefused("wrong_trust_domain");
  endpoint_.SetDocument(200, Document({&partner_, &partner_next_}, 0));
  ExpectRefused("lower_sequence");
  endpoint_.SetDocument(200, Document({&partner_next_}, 1));
  ExpectRefused("sequence_reused");
  endpoint_.SetDocument(404, "no");
  ExpectRefused("http_error");
  endpoint_.SetDocument(200, Document({&partner_, &partner_next_}, 2));
  endpoint_.ServeSvid(partner_, "spiffe://partner.test/impostor");
  ExpectRefused("wrong_spiffe_id");
  // The right ID from a root the partner's current bundle does not hold yet.
  endpoint_.ServeSvid(partner_next_, kEndpointId);
  ExpectRefused("tls_error");

  // The partner adds a root at a higher sequence: on the stream within one
  // refresh interval (1s; the backoff after failures is capped at it).
  const absl::Time rotated = absl::Now();
  endpoint_.ServeSvid(partner_, kEndpointId);
  const std::vector<std::string> both = {Der(partner_), Der(partner_next_)};
  ASSERT_TRUE(WaitFor([&] { return watch_->Latest(kPartner) == both; }, absl::Seconds(10)))
      << Partner().dump();
  const absl::Duration took = absl::Now() - rotated;
  std::printf("new partner root on the stream after %s\n", absl::FormatDuration(took).c_str());
  EXPECT_LT(took, absl::Seconds(4));  // 1s interval, 2s max, slack for a loaded machine
  EXPECT_EQ(Partner()["sequence"], 2);
  EXPECT_EQ(Partner()["roots"], 2);
  EXPECT_EQ(Partner()["last_error"], "");

  // A restart with the endpoint down keeps the stored bundle, not the
  // initial one.
  StopControl();
  endpoint_.SetDocument(503, "down");
  StartControl();
  EXPECT_EQ(Partner()["sequence"], 2);
  EXPECT_EQ(Partner()["roots"], 2);
  EXPECT_EQ(Partner()["source"], "state");
  OpenWatch();
  ASSERT_NE(watch_, nullptr);
  EXPECT_EQ(watch_->Latest(kPartner), both);
}

}  // namespace
}  // namespace palisade::testing
