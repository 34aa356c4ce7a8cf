// One HTTP/1.1 response read off a connection, parsed by http_parser
// (libhttp-parser-dev, the parser Node.js used for years): status, headers,
// body (chunked or not), with a cap on the body so that a runaway server
// cannot fill memory.
#ifndef PALISADE_RUNTIME_HTTP_HTTP_RESPONSE_PARSER_H_
#define PALISADE_RUNTIME_HTTP_HTTP_RESPONSE_PARSER_H_

#include <http_parser.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace palisade::http {

// One thread. Feed what is read until complete(); at the end of the stream
// call FinishAtEof() (a response without Content-Length ends there).
class HttpResponseParser {
 public:
  explicit HttpResponseParser(size_t max_body_bytes);
  HttpResponseParser(const HttpResponseParser&) = delete;
  HttpResponseParser& operator=(const HttpResponseParser&) = delete;

  // InvalidArgument naming http_parser's error for a malformed response;
  // ResourceExhausted when the body exceeds the cap. Bytes after the end of
  // the response are ignored.
  absl::Status Feed(absl::string_view data);
  // InvalidArgument when the stream ended inside the response.
  absl::Status FinishAtEof();

  bool complete() const { return complete_; }
  int status() const { return status_; }
  const std::string& body() const { return body_; }
  // Header names in lower case, in order.
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }

 private:
  static int OnHeaderField(http_parser* parser, const char* at, size_t length);
  static int OnHeaderValue(http_parser* parser, const char* at, size_t length);
  static int OnHeadersComplete(http_parser* parser);
  static int OnBody(http_parser* parser, const char* at, size_t length);
  static int OnMessageComplete(http_parser* parser);
  absl::Status Error() const;

  const size_t max_body_bytes_;
  http_parser parser_;
  http_parser_settings settings_;
  bool complete_ = false;
  bool too_large_ = false;
  bool in_value_ = false;
  int status_ = 0;
  std::string body_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace palisade::http

#endif  // PALISADE_RUNTIME_HTTP_HTTP_RESPONSE_PARSER_H_
