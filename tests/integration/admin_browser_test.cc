// A web page in a real browser cannot drive the admin APIs: headless
// Chromium loads a page from another loopback origin (127.0.0.2) whose
// script does what issue 15 found working, fetch(..., {mode: "no-cors"})
// POSTs to palisade-control (mint a token, de-register a workload, start a
// rollover) and to a proxy (POST /drain), and nothing changes; a page whose
// DNS name resolves to the admin port (DNS rebinding, simulated with
// Chromium's resolver rules) gets 403 instead of the data. The positive
// control: the same requests with the credential, from curl, work.
#include <gmock/gmock.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/control_process.h"
#include "tests/util/headless_browser.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kVictim[] = "spiffe://example.org/ns/shop/sa/cart";

// The attacker's page: every request a page may send without asking the
// server first (no-cors, text/plain), then one that needs a preflight.
constexpr char kAttackPage[] = R"html(<!doctype html>
<title>attack</title><pre id="log">started</pre>
<script>
const params = new URLSearchParams(location.search);
const target = params.get("target");
const posts = JSON.parse(params.get("posts"));
const log = (m) => { document.getElementById("log").textContent += "\n" + m; };
(async () => {
  for (const [path, body] of posts) {
    try {
      await fetch(target + path, {method: "POST", mode: "no-cors",
                                  headers: {"Content-Type": "text/plain"}, body});
      log("no-cors sent " + path);
    } catch (e) { log("no-cors failed " + path + ": " + e); }
  }
  try {
    const r = await fetch(target + posts[0][0], {method: "POST",
        headers: {"Content-Type": "application/json"}, body: posts[0][1]});
    log("json answered " + r.status + ": " + await r.text());
  } catch (e) { log("json refused by the browser"); }
  log("done");
})();
</script>
)html";

class AdminBrowserTest : public TwoHopMesh {
 protected:
  void SetUp() override {
    TwoHopMesh::SetUp();
    www_ = dir() + "/www";
    ASSERT_EQ(mkdir(www_.c_str(), 0700), 0);
    ASSERT_TRUE(WriteFile(www_ + "/attack.html", kAttackPage));
    ASSERT_OK_AND_ASSIGN(pages_, PageServer::Start(www_, "127.0.0.2"));
  }

  // Loads the attack page against `target` and returns the page's log.
  std::string Attack(const std::string& target, const nlohmann::json& posts) {
    const std::string url =
        absl::StrCat(pages_->origin(), "/attack.html?target=", UrlEncode(target),
                     "&posts=", UrlEncode(posts.dump()));
    const CommandResult r = LoadPage(url);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const size_t start = r.output.find("<pre id=\"log\">");
    return start == std::string::npos ? r.output : r.output.substr(start);
  }

  static std::string UrlEncode(const std::string& text) {
    std::string out;
    for (unsigned char c : text) {
      if (isalnum(c) || c == '-' || c == '_' || c == '.') {
        out += static_cast<char>(c);
      } else {
        out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
      }
    }
    return out;
  }

  std::string www_;
  std::unique_ptr<PageServer> pages_;
};

TEST_F(AdminBrowserTest, APageElsewhereMintsNoTokenAndDeregistersNothing) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ControlProcess> control,
                       ControlProcess::Start(MakeTempDir("browser-control")));
  const std::string mint = nlohmann::json{
      {"spiffe_id", "spiffe://example.org/ns/evil/sa/x"},
      {"ttl_seconds", 0},
      {"single_use", false}}.dump();
  // Explicit arrays: a list of string pairs would make an object.
  const nlohmann::json posts = nlohmann::json::array(
      {nlohmann::json::array({"/api/v1/tokens", mint}),
       nlohmann::json::array({"/api/v1/deregister", nlohmann::json{{"spiffe_id", kVictim}}.dump()}),
       nlohmann::json::array({"/api/v1/rollover/start", "{}"})});
  const std::string log = Attack(control->admin_url(), posts);
  // The browser did send them: the refusal is the server's.
  EXPECT_THAT(log, HasSubstr("no-cors sent /api/v1/tokens"));
  EXPECT_THAT(log, HasSubstr("no-cors sent /api/v1/deregister"));
  EXPECT_THAT(log, HasSubstr("json refused by the browser"));
  EXPECT_THAT(log, HasSubstr("done"));
  EXPECT_THAT(log, Not(HasSubstr("pjt.")));

  const nlohmann::json tokens =
      nlohmann::json::parse(control->AdminGet("/api/v1/tokens").body, nullptr, false);
  EXPECT_EQ(tokens, nlohmann::json::array()) << "the page minted a token";
  const nlohmann::json state = control->State();
  EXPECT_EQ(state["deregistered"], nlohmann::json::array()) << "the page de-registered a workload";
  EXPECT_EQ(state["rollover"]["phase"], "idle");

  // Positive control: the same request with the credential, from curl.
  const HttpResult made = control->AdminPost("/api/v1/tokens", mint);
  EXPECT_EQ(made.status, 200) << made.body;
  EXPECT_EQ(nlohmann::json::parse(control->AdminGet("/api/v1/tokens").body).size(), 1u);
}

TEST_F(AdminBrowserTest, ARebindingPageNamedAfterTheAdminPortReadsNothing) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ControlProcess> control,
                       ControlProcess::Start(MakeTempDir("browser-control")));
  const std::string port = control->admin_address().substr(control->admin_address().rfind(':') + 1);
  // rebind.test resolves to the admin port's address: the page's origin is
  // http://rebind.test:PORT, so the browser would let its script read it all.
  const CommandResult r = LoadPage(absl::StrCat("http://rebind.test:", port, "/api/v1/state"),
                                   {"--host-resolver-rules=MAP rebind.test 127.0.0.1"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("not this server's address"));
  EXPECT_THAT(r.output, Not(HasSubstr("trust_domain")));
  // The same page by the address itself is served (the overview's way).
  const CommandResult direct = LoadPage(control->admin_url() + "/api/v1/state");
  EXPECT_THAT(direct.output, HasSubstr("trust_domain"));
}

TEST_F(AdminBrowserTest, APageElsewhereCannotDrainAProxy) {
  StartInbound();
  const std::string log = Attack(inbound_->admin_url(),
                                 nlohmann::json::array({nlohmann::json::array({"/drain", "{}"})}));
  EXPECT_THAT(log, HasSubstr("no-cors sent /drain"));
  EXPECT_THAT(log, HasSubstr("json refused by the browser"));
  EXPECT_THAT(log, HasSubstr("done"));
  const HttpResult ready = HttpGet(inbound_->admin_url() + "/ready");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_TRUE(inbound_->process().Running());
  // Positive control: curl's JSON POST drains it, and it exits 0.
  ASSERT_EQ(HttpPostJson(inbound_->admin_url() + "/drain", "").status, 200);
  EXPECT_EQ(inbound_->process().Wait(absl::Seconds(15)), 0);
}

}  // namespace
}  // namespace palisade::testing
