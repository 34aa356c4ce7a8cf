// palisade-control's admin API refuses what a web page in the operator's
// browser (or a rebound DNS name) can send, with the real binary and curl:
// a foreign Host, a foreign Origin or cross-site fetch, a simple content
// type, and a request without the admin credential; nothing changes when
// it refuses. The CLI still works by itself, with the credential the server
// wrote to its state directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/util/control_process.h"
#include "tests/util/process.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kVictim[] = "spiffe://example.org/ns/shop/sa/cart";

class ControlAdminGuardTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start(const std::vector<std::string>& extra = {}) {
    auto control = ControlProcess::Start(dir_, extra);
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);
  }

  std::string Url(const std::string& path) const { return control_->admin_url() + path; }
  std::string Port() const {
    return control_->admin_address().substr(control_->admin_address().rfind(':') + 1);
  }
  // Headers of a request the CLI would send, with `change` replacing the
  // one of its name or added ("Name: value"; "Name:" makes curl drop it).
  std::vector<std::string> Headers(const std::string& change = "") const {
    std::vector<std::string> headers = {"Content-Type: application/json",
                                        "Authorization: Bearer " + control_->AdminToken()};
    if (change.empty()) return headers;
    const std::string name = change.substr(0, change.find(':') + 1);
    bool replaced = false;
    for (std::string& h : headers) {
      if (h.rfind(name, 0) == 0) h = change, replaced = true;
    }
    if (!replaced) headers.push_back(change);
    return headers;
  }
  nlohmann::json Tokens() const {
    return nlohmann::json::parse(control_->AdminGet("/api/v1/tokens").body, nullptr, false);
  }
  nlohmann::json Deregistered() const { return control_->State()["deregistered"]; }

  std::string dir_ = MakeTempDir("control-admin-guard");
  std::unique_ptr<ControlProcess> control_;
};

TEST_F(ControlAdminGuardTest, ACrossSiteTextPlainPostMintsNoToken) {
  // What a page elsewhere sends with fetch(..., {mode: "no-cors"}), and what
  // a rebound DNS name sends: no credential, text/plain, foreign names.
  const std::string body = R"({"spiffe_id": "spiffe://example.org/ns/evil/sa/x", "ttl_seconds": 0,
                              "single_use": false})";
  for (const std::vector<std::string>& headers : std::vector<std::vector<std::string>>{
           {"Content-Type: text/plain", "Origin: http://evil.example",
            "Sec-Fetch-Site: cross-site"},
           {"Content-Type: text/plain", "Host: evil.example:" + Port(),
            "Origin: http://evil.example:" + Port()},
           {"Content-Type: text/plain"}}) {
    const HttpResult r = HttpRequest("POST", Url("/api/v1/tokens"), headers, body);
    EXPECT_THAT(r.status, ::testing::AnyOf(401, 403)) << r.body;
    EXPECT_THAT(r.body, ::testing::Not(HasSubstr("pjt.")));
  }
  EXPECT_EQ(Tokens(), nlohmann::json::array());
}

TEST_F(ControlAdminGuardTest, EachRuleAloneRefusesATokenRequest) {
  const std::string body = nlohmann::json{{"spiffe_id", kVictim}}.dump();
  struct Case {
    std::string change;
    int status;
  };
  const std::string wrong_token(64, 'a');
  for (const Case& c : std::vector<Case>{
           {"Host: evil.example:" + Port(), 403},
           {"Host: 10.1.2.3:" + Port(), 403},
           {"Origin: http://127.0.0.2:8000", 403},
           {"Origin: null", 403},
           {"Sec-Fetch-Site: cross-site", 403},
           {"Sec-Fetch-Site: same-site", 403},
           {"Authorization:", 401},
           {"Authorization: Bearer " + wrong_token, 401},
           {"Content-Type: text/plain", 415},
           {"Content-Type: application/x-www-form-urlencoded", 415},
           {"Content-Type: multipart/form-data; boundary=x", 415},
       }) {
    const HttpResult r = HttpRequest("POST", Url("/api/v1/tokens"), Headers(c.change), body);
    EXPECT_EQ(r.status, c.status) << c.change << ": " << r.body;
  }
  EXPECT_EQ(Tokens(), nlohmann::json::array()) << "a refused request created a token";

  // The positive control: the same request as the CLI sends it.
  const HttpResult ok = HttpRequest("POST", Url("/api/v1/tokens"), Headers(), body);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_THAT(ok.body, HasSubstr("pjt."));
  EXPECT_EQ(Tokens().size(), 1u);
  const HttpResult same_origin = HttpRequest(
      "POST", Url("/api/v1/tokens"),
      {"Content-Type: application/json", "Authorization: Bearer " + control_->AdminToken(),
       "Origin: " + control_->admin_url(), "Sec-Fetch-Site: same-origin"},
      body);
  EXPECT_EQ(same_origin.status, 200) << same_origin.body;
}

TEST_F(ControlAdminGuardTest, DeregisterRegisterRevokeAndRolloverRefuseWhatAPageCanSend) {
  const HttpResult made =
      control_->AdminPost("/api/v1/tokens", nlohmann::json{{"spiffe_id", kVictim}}.dump());
  ASSERT_EQ(made.status, 200) << made.body;
  const std::string token_id = nlohmann::json::parse(made.body)["id"];
  const std::vector<std::pair<std::string, std::string>> posts = {
      {"/api/v1/deregister", nlohmann::json{{"spiffe_id", kVictim}}.dump()},
      {"/api/v1/tokens/revoke", nlohmann::json{{"id", token_id}}.dump()},
      {"/api/v1/rollover/start", "{}"},
  };
  for (const auto& [path, body] : posts) {
    const HttpResult page = HttpRequest(
        "POST", Url(path),
        {"Content-Type: text/plain", "Origin: http://127.0.0.2:8000", "Sec-Fetch-Site: cross-site"},
        body);
    EXPECT_EQ(page.status, 403) << path << ": " << page.body;
    const HttpResult no_credential =
        HttpRequest("POST", Url(path), {"Content-Type: application/json"}, body);
    EXPECT_EQ(no_credential.status, 401) << path << ": " << no_credential.body;
    const HttpResult text_plain = HttpRequest("POST", Url(path), Headers("Content-Type:"), body);
    EXPECT_EQ(text_plain.status, 415) << path << ": " << text_plain.body;
  }
  EXPECT_EQ(Deregistered(), nlohmann::json::array());
  EXPECT_EQ(control_->State()["rollover"]["phase"], "idle") << control_->State().dump();
  EXPECT_FALSE(Tokens()[0]["revoked"].get<bool>());

  // De-registered properly, a page cannot register it back either.
  ASSERT_EQ(control_->AdminPost("/api/v1/deregister", nlohmann::json{{"spiffe_id", kVictim}}.dump())
                .status,
            200);
  const HttpResult page = HttpRequest("POST", Url("/api/v1/register"),
                                      {"Content-Type: text/plain", "Origin: http://evil.example"},
                                      nlohmann::json{{"spiffe_id", kVictim}}.dump());
  EXPECT_EQ(page.status, 403) << page.body;
  EXPECT_EQ(Deregistered(), nlohmann::json::array({kVictim}));
}

TEST_F(ControlAdminGuardTest, ReadsAnswerOnlyLocalNamesAndTheTokenListNeedsTheCredential) {
  for (const std::string path : {"/", "/api/v1/state", "/api/v1/bundle.pem", "/healthz"}) {
    EXPECT_EQ(HttpRequest("GET", Url(path), {"Host: evil.example:" + Port()}).status, 403) << path;
    EXPECT_EQ(HttpRequest("GET", Url(path), {"Host: localhost:" + Port()}).status, 200) << path;
    EXPECT_EQ(HttpGet(Url(path)).status, 200) << path;
  }
  EXPECT_EQ(HttpGet(Url("/api/v1/tokens")).status, 401);
  EXPECT_EQ(control_->AdminGet("/api/v1/tokens").status, 200);
}

TEST_F(ControlAdminGuardTest, TheCliWorksByItselfWithTheCredentialInTheStateDirectory) {
  const CommandResult created =
      control_->Cli({"token", "create", "--spiffe_id=" + std::string(kVictim)});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_THAT(created.output, HasSubstr("pjt."));
  const CommandResult listed = control_->Cli({"token", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(listed.output, HasSubstr(kVictim));
  EXPECT_EQ(control_->Cli({"deregister", "--spiffe_id=" + std::string(kVictim)}).exit_code, 0);
  EXPECT_EQ(Deregistered(), nlohmann::json::array({kVictim}));
  EXPECT_EQ(control_->Cli({"register", "--spiffe_id=" + std::string(kVictim)}).exit_code, 0);
  EXPECT_EQ(Deregistered(), nlohmann::json::array());

  // Without the credential: reads still work, changes are refused and say why.
  const CommandResult status =
      RunCommand({kControlBinary, "status", "--admin=" + control_->admin_address()});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  const CommandResult refused =
      RunCommand({kControlBinary, "token", "create", "--spiffe_id=" + std::string(kVictim),
                  "--admin=" + control_->admin_address()});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("HTTP 401"));
  EXPECT_THAT(refused.output, HasSubstr("--state_dir"));
  EXPECT_EQ(Tokens().size(), 1u);
  const CommandResult unreadable =
      RunCommand({kControlBinary, "token", "list", "--admin=" + control_->admin_address(),
                  "--admin_token_file=" + dir_ + "/nope"});
  EXPECT_EQ(unreadable.exit_code, 1);
  EXPECT_THAT(unreadable.output, HasSubstr(dir_ + "/nope"));
}

TEST_F(ControlAdminGuardTest, TheCredentialIsPrivateAndNewAtEveryStart) {
  const std::string file = control_->state_dir() + "/admin.token";
  struct stat st;
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  const std::string first = control_->AdminToken();
  EXPECT_EQ(first.size(), 64u);
  EXPECT_EQ(first.find_first_not_of("0123456789abcdef"), std::string::npos) << first;

  ASSERT_TRUE(control_->process().Stop().has_value());
  control_.reset();
  Start({"--admin_host=control.internal"});
  const std::string second = control_->AdminToken();
  EXPECT_NE(second, first);
  const std::string body = nlohmann::json{{"spiffe_id", kVictim}}.dump();
  EXPECT_EQ(HttpPostJson(Url("/api/v1/tokens"), body, first).status, 401)
      << "the last run's credential still works";
  // A configured name is one the admin API answers to.
  EXPECT_EQ(
      HttpRequest("POST", Url("/api/v1/tokens"), Headers("Host: control.internal:" + Port()), body)
          .status,
      200);
}

}  // namespace
}  // namespace palisade::testing
