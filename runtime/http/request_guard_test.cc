#include "runtime/http/request_guard.h"

#include <gtest/gtest.h>

namespace palisade::http {
namespace {

constexpr char kToken[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

RequestGuard Loopback(std::vector<std::string> names = {}) {
  return RequestGuard({*net::SocketAddress::Parse("127.0.0.1:15013"), std::move(names), kToken});
}

HttpRequest Post(std::vector<std::pair<std::string, std::string>> extra = {}) {
  HttpRequest r;
  r.method = "POST";
  r.path = "/api/v1/tokens";
  r.headers = {{"host", "127.0.0.1:15013"},
               {"content-type", "application/json"},
               {"authorization", std::string("Bearer ") + kToken}};
  for (auto& [name, value] : extra) {
    bool replaced = false;
    for (auto& h : r.headers) {
      if (h.first == name) h.second = value, replaced = true;
    }
    if (!replaced) r.headers.emplace_back(name, value);
  }
  return r;
}

int StatusOf(const RequestGuard& guard, const HttpRequest& r, Access access = Access::kWrite) {
  const std::optional<HttpResponse> refusal = guard.Check(r, access);
  return refusal ? refusal->status : 200;
}

TEST(RequestGuardTest, AcceptsTheCliRequest) { EXPECT_EQ(StatusOf(Loopback(), Post()), 200); }

TEST(RequestGuardTest, AcceptsLoopbackAndLocalhostHostsOnAnyPort) {
  for (const char* host :
       {"localhost:15013", "LOCALHOST", "127.0.0.2:1", "[::1]:15013", "localhost.:8080"}) {
    EXPECT_EQ(StatusOf(Loopback(), Post({{"host", host}})), 200) << host;
  }
}

TEST(RequestGuardTest, RefusesAForeignOrRebindingHost) {
  for (const char* host : {"evil.example:15013", "10.0.0.1:15013", "", "[::1", "localhost:x",
                           "127.0.0.1.evil.example"}) {
    EXPECT_EQ(StatusOf(Loopback(), Post({{"host", host}}), Access::kRead), 403) << host;
  }
  HttpRequest no_host = Post();
  no_host.headers.erase(no_host.headers.begin());
  EXPECT_EQ(StatusOf(Loopback(), no_host, Access::kRead), 403);
  HttpRequest two_hosts = Post();
  two_hosts.headers.emplace_back("host", "evil.example");
  EXPECT_EQ(StatusOf(Loopback(), two_hosts, Access::kRead), 403);
}

TEST(RequestGuardTest, AcceptsAConfiguredName) {
  EXPECT_EQ(StatusOf(Loopback({"control.internal"}), Post({{"host", "Control.Internal:15013"}})),
            200);
}

TEST(RequestGuardTest, AcceptsAnyIpLiteralWhenBoundToEveryAddress) {
  RequestGuard guard({*net::SocketAddress::Parse("0.0.0.0:15013"), {}, kToken});
  EXPECT_EQ(StatusOf(guard, Post({{"host", "10.0.0.1:15013"}})), 200);
  EXPECT_EQ(StatusOf(guard, Post({{"host", "evil.example:15013"}})), 403);
}

TEST(RequestGuardTest, RefusesAForeignOriginOrCrossSiteFetch) {
  EXPECT_EQ(StatusOf(Loopback(), Post({{"origin", "http://127.0.0.2:8000"}})), 403);
  EXPECT_EQ(StatusOf(Loopback(), Post({{"origin", "null"}})), 403);
  EXPECT_EQ(StatusOf(Loopback(), Post({{"sec-fetch-site", "cross-site"}})), 403);
  EXPECT_EQ(StatusOf(Loopback(), Post({{"sec-fetch-site", "same-site"}})), 403);
  EXPECT_EQ(StatusOf(Loopback(), Post({{"origin", "http://127.0.0.1:15013"},
                                       {"sec-fetch-site", "cross-site"}})),
            403);
  EXPECT_EQ(StatusOf(Loopback(), Post({{"origin", "http://127.0.0.1:15013"},
                                       {"sec-fetch-site", "same-origin"}})),
            200);
}

// A browser sends each of these once; two copies (found by the admin_http
// fuzzer) are a forged or broken request, whatever the other headers say.
TEST(RequestGuardTest, RefusesARepeatedOriginOrFetchSite) {
  const std::string own_origin = "http://127.0.0.1:15013";
  HttpRequest two_sites = Post({{"origin", own_origin}, {"sec-fetch-site", "same-origin"}});
  two_sites.headers.emplace_back("sec-fetch-site", "same-origin");
  EXPECT_EQ(StatusOf(Loopback(), two_sites), 403);
  HttpRequest two_origins = Post({{"origin", own_origin}});
  two_origins.headers.emplace_back("origin", own_origin);
  EXPECT_EQ(StatusOf(Loopback(), two_origins), 403);
}

TEST(RequestGuardTest, ReadsNeedOnlyTheHost) {
  EXPECT_EQ(StatusOf(Loopback(),
                     Post({{"origin", "http://evil.example"},
                           {"content-type", "text/plain"},
                           {"authorization", ""}}),
                     Access::kRead),
            200);
}

TEST(RequestGuardTest, RefusesAMissingOrWrongCredential) {
  EXPECT_EQ(StatusOf(Loopback(), Post({{"authorization", ""}})), 401);
  EXPECT_EQ(StatusOf(Loopback(), Post({{"authorization", "Bearer x"}})), 401);
  EXPECT_EQ(StatusOf(Loopback(), Post({{"authorization", std::string("Basic ") + kToken}})), 401);
  std::string wrong = kToken;
  wrong.back() = '0';
  EXPECT_EQ(StatusOf(Loopback(), Post({{"authorization", "Bearer " + wrong}}), Access::kCredential),
            401);
  RequestGuard no_credential({*net::SocketAddress::Parse("127.0.0.1:15000"), {}, ""});
  EXPECT_EQ(StatusOf(no_credential, Post({{"authorization", ""}})), 200);
}

TEST(RequestGuardTest, WritesNeedApplicationJson) {
  EXPECT_EQ(StatusOf(Loopback(), Post({{"content-type", "text/plain"}})), 415);
  EXPECT_EQ(StatusOf(Loopback(), Post({{"content-type", "application/x-www-form-urlencoded"}})),
            415);
  EXPECT_EQ(StatusOf(Loopback(), Post({{"content-type", "Application/JSON; charset=utf-8"}})), 200);
  HttpRequest none = Post();
  none.headers.erase(none.headers.begin() + 1);
  EXPECT_EQ(StatusOf(Loopback(), none), 415);
}

}  // namespace
}  // namespace palisade::http
