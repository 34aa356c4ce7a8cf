// Fuzzes admin HTTP request handling end to end: evhttp's parsing, the
// conversion into HttpRequest, and RequestGuard, with one route per kind of
// access. Beyond "no crash", a request that reaches a route must satisfy the
// rules RequestGuard documents, and the server must answer or close.
#include "tests/fuzz/admin_http_fuzzer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "runtime/http/http_server.h"
#include "runtime/http/request_guard.h"

namespace palisade::fuzz {
namespace {

using http::Access;
using http::HttpRequest;

// Aborts (a crash to libFuzzer) naming the broken expectation and errno, so
// that a failed run's log says which one it was.
void Check(bool condition, const char* what) {
  if (condition) return;
  const int error = errno;
  std::fprintf(stderr, "admin_http_fuzzer: expectation failed: %s (errno %d: %s)\n", what, error,
               std::strerror(error));
  std::abort();
}

// The rules, restated from request_guard.h without its code.
std::vector<std::string> Values(const HttpRequest& r, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [n, v] : r.headers) {
    if (absl::AsciiStrToLower(n) == name) out.push_back(v);
  }
  return out;
}

// The host of a Host header value: inside brackets, or before any ':'.
bool HostAllowed(const std::string& value) {
  std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
  std::string host;
  if (absl::StartsWith(v, "[")) {
    const size_t close = v.find(']');
    if (close == std::string::npos) return false;
    host = v.substr(1, close - 1);
  } else {
    host = v.substr(0, v.find(':'));
    if (absl::EndsWith(host, ".")) host.pop_back();
  }
  if (host == "localhost" || host == kAdminHostName) return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

bool RulesAllow(const HttpRequest& r, Access access) {
  const std::vector<std::string> host = Values(r, "host");
  if (host.size() != 1 || !HostAllowed(host[0])) return false;
  if (access == Access::kRead) return true;
  const std::vector<std::string> auth = Values(r, "authorization");
  if (auth.size() != 1) return false;
  absl::string_view presented = auth[0];
  if (!absl::ConsumePrefix(&presented, "Bearer ") ||
      absl::StripAsciiWhitespace(presented) != kAdminToken) {
    return false;
  }
  if (access == Access::kCredential) return true;
  const std::vector<std::string> origin = Values(r, "origin");
  const bool same_origin =
      origin.size() == 1 && absl::EqualsIgnoreCase(origin[0], "http://" + host[0]);
  if (origin.size() > 1 || (origin.size() == 1 && !same_origin)) return false;
  const std::vector<std::string> site = Values(r, "sec-fetch-site");
  if (site.size() > 1) return false;
  if (site.size() == 1 && site[0] != "same-origin" && (site[0] == "cross-site" || !same_origin)) {
    return false;
  }
  const std::vector<std::string> type = Values(r, "content-type");
  if (type.size() != 1) return false;
  const std::string media(absl::StripAsciiWhitespace(type[0].substr(0, type[0].find(';'))));
  return absl::EqualsIgnoreCase(media, "application/json");
}

// What evhttp hands a route: a parsed request within the server's limits.
void CheckConverted(const HttpRequest& r) {
  Check(r.method == "GET" || r.method == "POST" || r.method == "HEAD",
        "a route sees only GET, POST or HEAD");
  Check(!r.path.empty(), "a route sees a path");
  Check(r.body.size() <= 64 * 1024, "a route sees at most 64 KiB of body");
  for (const auto& [name, value] : r.headers)
    Check(name == absl::AsciiStrToLower(name), "header names are lower case");
}

http::HttpServer::Handler Reached(Access access) {
  return [access](const HttpRequest& r) {
    CheckConverted(r);
    Check(RulesAllow(r, access), "a request that reached a route satisfies the rules");
    return http::HttpResponse{200, "text/plain", "ok"};
  };
}

http::RequestGuard& Guard() {
  static auto* guard = new http::RequestGuard(
      {*net::SocketAddress::Parse("127.0.0.1:0"), {kAdminHostName}, kAdminToken});
  return *guard;
}

uint16_t ServerPort() {
  static const uint16_t port = [] {
    auto* server = new http::HttpServer();  // lives for the process
    server->Route("GET", "/metrics", Guard().Guard(Access::kRead, Reached(Access::kRead)));
    server->Route("GET", "/certs",
                  Guard().Guard(Access::kCredential, Reached(Access::kCredential)));
    server->Route("POST", "/drain", Guard().Guard(Access::kWrite, Reached(Access::kWrite)));
    Check(server->Start(*net::SocketAddress::Parse("127.0.0.1:0")).ok(), "the server starts");
    return server->address().port();
  }();
  return port;
}

// Connects by `deadline`. Not a blocking connect(): a SYN the kernel drops
// (a 4-tuple still in TIME_WAIT after thousands of connections a second) is
// retried a second later, and libFuzzer's SIGALRM would interrupt the wait
// with EINTR, a failure of this harness and not of the server.
void ConnectWithin(int fd, const sockaddr_in& to, absl::Time deadline) {
  const int flags = fcntl(fd, F_GETFL);
  Check(flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0, "fcntl(O_NONBLOCK)");
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0) {
    Check(errno == EINPROGRESS || errno == EINTR, "connect()");
    for (;;) {
      const absl::Duration left = deadline - absl::Now();
      Check(left > absl::ZeroDuration(), "the server's listener accepts within 5 s");
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) == 1) break;
    }
    int error = 0;
    socklen_t size = sizeof(error);
    Check(getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0, "getsockopt(SO_ERROR)");
    errno = error;
    Check(error == 0, "connect() completes");
  }
  Check(fcntl(fd, F_SETFL, flags) == 0, "fcntl(blocking)");
}

// Sends `input`, half-closes, and reads until the server closes.
std::string Exchange(absl::string_view input) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  Check(fd >= 0, "socket()");
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(ServerPort());
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  ConnectWithin(fd, to, absl::Now() + absl::Seconds(5));
  size_t sent = 0;
  while (sent < input.size()) {
    const ssize_t n = send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (e.g. a refused head)
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string reply;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    // The server never hangs on a closed request.
    Check(left > absl::ZeroDuration(), "the server closes within 5 s of a half-close");
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) != 1) continue;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    if (reply.size() < 64 * 1024) reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return reply;
}

int StatusOf(const std::string& reply) {
  // "HTTP/1.1 200 OK"
  if (!absl::StartsWith(reply, "HTTP/1.")) return 0;
  int status = 0;
  if (reply.size() < 12 || !absl::SimpleAtoi(reply.substr(9, 3), &status)) return 0;
  return status;
}

// The input read as a head, without evhttp: "METHOD PATH" then "Name: value"
// lines, so the guard sees header values evhttp would not let through.
HttpRequest Direct(absl::string_view input) {
  HttpRequest r;
  std::vector<absl::string_view> lines = absl::StrSplit(input, absl::ByAnyChar("\r\n"));
  r.method = "POST";
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    r.headers.emplace_back(
        absl::AsciiStrToLower(lines[i].substr(0, colon)),
        std::string(absl::StripLeadingAsciiWhitespace(lines[i].substr(colon + 1))));
  }
  return r;
}

}  // namespace

int FuzzAdminHttp(absl::string_view input) {
  const HttpRequest direct = Direct(input);
  for (const Access access : {Access::kRead, Access::kCredential, Access::kWrite}) {
    const std::optional<http::HttpResponse> refusal = Guard().Check(direct, access);
    if (!refusal) {
      Check(RulesAllow(direct, access), "what the guard lets through satisfies the rules");
    } else {
      Check(refusal->status == 401 || refusal->status == 403 || refusal->status == 415,
            "a refusal is 401, 403 or 415");
    }
  }
  return StatusOf(Exchange(input));
}

}  // namespace palisade::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  palisade::fuzz::FuzzAdminHttp(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
