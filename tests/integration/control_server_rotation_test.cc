// Short-lived SVIDs against the real palisade-control: --svid_ttl=5s bounds
// what it issues (with bounded backdating), its own serving SVID renews
// before expiry without dropping new connections, and a revoked join token
// stops the renewals that descend from it.
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "identity/certificate.h"
#include "tests/integration/identity_stream.h"
#include "tests/util/process.h"

namespace palisade::testing {
namespace {

using control::v1::WatchResponse;

constexpr char kWorkload[] = "spiffe://example.org/host/db-1";

class ControlServerRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("rotation");
    auto control = ControlProcess::Start(dir_, {"--svid_ttl=5s", "--clock_skew=2s"});
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);
  }
  void TearDown() override {
    if (control_ != nullptr)
      EXPECT_EQ(control_->process().Stop(), 0) << control_->process().Output();
  }

  nlohmann::json CreateToken(const std::string& id) {
    absl::StatusOr<nlohmann::json> created = control_->CreateJoinToken(id);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : nlohmann::json{{"token", ""}, {"id", ""}};
  }

  Svid Bootstrap(const std::string& token) {
    auto stream = IdentityStream::Open(*control_);
    EXPECT_TRUE(stream.ok()) << stream.status();
    bssl::UniquePtr<EVP_PKEY> key;
    (*stream)->Write(HelloRequest(token));
    (*stream)->Write(CsrRequest(kWorkload, &key));
    std::vector<WatchResponse> responses;
    EXPECT_TRUE((*stream)->Drain(&responses).ok());
    return SvidFrom(responses.back(), std::move(key));
  }

  nlohmann::json State() {
    return nlohmann::json::parse(HttpGet(control_->admin_url() + "/api/v1/state").body);
  }

  std::string dir_;
  std::unique_ptr<ControlProcess> control_;
};

TEST_F(ControlServerRotationTest, IssuesSvidsOfTheConfiguredLifetimeWithBoundedBackdating) {
  Svid svid = Bootstrap(CreateToken(kWorkload)["token"]);
  X509* leaf = svid.chain[0].get();
  EXPECT_EQ(identity::NotAfter(leaf) - identity::NotBefore(leaf), absl::Seconds(7));
}

TEST_F(ControlServerRotationTest, RenewsItsOwnServingSvidAndKeepsAcceptingStreams) {
  const nlohmann::json first = State()["serving_svid"];
  absl::Time first_expiry;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, first["not_after"].get<std::string>(),
                              &first_expiry, &error))
      << error;
  ASSERT_TRUE(WaitFor([&] { return State()["serving_svid"]["serial"] != first["serial"]; },
                      absl::Seconds(10)));
  // Past the first serving SVID's expiry (whole seconds in the state: one
  // more), new streams still verify the server.
  ASSERT_TRUE(WaitFor([&] { return absl::Now() > first_expiry + absl::Seconds(1); },
                      absl::Seconds(15), absl::Milliseconds(100)));
  Svid svid = Bootstrap(CreateToken(kWorkload)["token"]);
  EXPECT_EQ(identity::SpiffeIdOf(svid.chain[0].get())->ToString(), kWorkload);
  auto renewal = IdentityStream::Open(*control_, &svid);
  ASSERT_TRUE(renewal.ok()) << renewal.status();
  (*renewal)->Write(HelloRequest());
  WatchResponse response;
  EXPECT_TRUE((*renewal)->Read(&response));
  (*renewal)->CloseWrites();
  (*renewal)->Drain();
}

TEST_F(ControlServerRotationTest, RevokedJoinTokenStopsRenewalsAndClosesTheirStreams) {
  const nlohmann::json token = CreateToken(kWorkload);
  Svid svid = Bootstrap(token["token"]);
  auto open = IdentityStream::Open(*control_, &svid);
  ASSERT_TRUE(open.ok());
  WatchResponse response;
  (*open)->Write(HelloRequest());
  ASSERT_TRUE((*open)->Read(&response));
  CommandResult revoked =
      control_->Cli({"token", "revoke", "--id=" + token["id"].get<std::string>()});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.output;
  EXPECT_NE(revoked.output.find("\"streams_closed\": 1"), std::string::npos) << revoked.output;
  EXPECT_EQ((*open)->Drain().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto again = IdentityStream::Open(*control_, &svid);
  ASSERT_TRUE(again.ok());
  (*again)->Write(HelloRequest());
  const grpc::Status status = (*again)->Drain();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("revoked"), std::string::npos);
}

}  // namespace
}  // namespace palisade::testing
