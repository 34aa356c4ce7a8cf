#include "tests/util/http_header_echo.h"

#include <http_parser.h>
#include <openssl/sha.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace palisade::testing {
namespace {

struct Request {
  std::vector<std::pair<std::string, std::string>> headers;
  bool last_was_value = false;
  SHA256_CTX body_hash;
  uint64_t body_bytes = 0;
  std::string responses;  // answers not yet sent
};

Request* Of(http_parser* p) { return static_cast<Request*>(p->data); }

int OnBegin(http_parser* p) {
  Request* r = Of(p);
  r->headers.clear();
  r->last_was_value = false;
  SHA256_Init(&r->body_hash);
  r->body_bytes = 0;
  return 0;
}

int OnField(http_parser* p, const char* at, size_t n) {
  Request* r = Of(p);
  if (r->headers.empty() || r->last_was_value) r->headers.emplace_back();
  r->headers.back().first.append(at, n);
  r->last_was_value = false;
  return 0;
}

int OnValue(http_parser* p, const char* at, size_t n) {
  Request* r = Of(p);
  if (r->headers.empty()) return 0;
  r->headers.back().second.append(at, n);
  r->last_was_value = true;
  return 0;
}

int OnBody(http_parser* p, const char* at, size_t n) {
  Request* r = Of(p);
  SHA256_Update(&r->body_hash, at, n);
  r->body_bytes += n;
  return 0;
}

int OnComplete(http_parser* p) {
  Request* r = Of(p);
  std::string body;
  for (const auto& [name, value] : r->headers) absl::StrAppend(&body, name, ": ", value, "\n");
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, &r->body_hash);
  absl::StrAppend(&body, "body-bytes: ", r->body_bytes, "\nbody-sha256: ",
                  absl::BytesToHexString(
                      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest))),
                  "\n");
  absl::StrAppend(&r->responses,
                  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ", body.size(),
                  "\r\n\r\n", body);
  return 0;
}

}  // namespace

void ServeHttpHeaderEcho(int fd, uint64_t* bytes) {
  http_parser parser;
  http_parser_init(&parser, HTTP_REQUEST);
  Request request;
  parser.data = &request;
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_message_begin = OnBegin;
  settings.on_header_field = OnField;
  settings.on_header_value = OnValue;
  settings.on_body = OnBody;
  settings.on_message_complete = OnComplete;
  char buffer[65536];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return;
    *bytes += n;
    const size_t parsed = http_parser_execute(&parser, &settings, buffer, n);
    if (HTTP_PARSER_ERRNO(&parser) != HPE_OK || parsed != static_cast<size_t>(n)) return;
    const std::string& out = request.responses;
    size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t w = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (w <= 0) return;
      sent += w;
    }
    request.responses.clear();
  }
}

}  // namespace palisade::testing
