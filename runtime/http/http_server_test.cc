#include "runtime/http/http_server.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

namespace palisade::http {
namespace {

// Talks to the server with curl, a real HTTP client.
std::string Curl(const std::string& args) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(("curl -s -m 10 " + args).c_str(), "r"), pclose);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe.get())) > 0) out.append(buf, n);
  return out;
}

TEST(HttpServerTest, ServesRoutesAndRefusesUnknownPathsAndMethods) {
  HttpServer server;
  server.Route("GET", "/hello", [](const HttpRequest& r) {
    return HttpResponse{200, "text/plain", "hi " + r.query};
  });
  server.Route("POST", "/echo", [](const HttpRequest& r) {
    return HttpResponse{200, "text/plain", r.body};
  });
  ASSERT_TRUE(server.Start(*net::SocketAddress::Parse("127.0.0.1:0")).ok());
  const std::string base = "http://" + server.address().ToString();

  EXPECT_EQ(Curl(base + "/hello?x=1"), "hi x=1");
  EXPECT_EQ(Curl("-X POST --data-binary payload " + base + "/echo"), "payload");
  EXPECT_EQ(Curl("-o /dev/null -w '%{http_code}' " + base + "/nope"), "404");
  EXPECT_EQ(Curl("-o /dev/null -w '%{http_code}' -X POST " + base + "/hello"), "405");
}

}  // namespace
}  // namespace palisade::http
