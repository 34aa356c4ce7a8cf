// The downstream side of an inbound connection whose app speaks HTTP/1.x and
// must learn the caller from a header: every request read through it comes
// out with the identity header set and any header of that name the client
// sent removed, so it cannot be spoofed. Requests are parsed with
// nodejs/http-parser (Debian's libhttp-parser); the request line and headers
// are rewritten from what the parser saw, bodies (chunk framing and trailers
// included) pass through byte for byte. What it cannot read as HTTP/1.x ends
// the connection with a reason (error()):
//   http_bad_request        not parseable as an HTTP/1.x request
//   http2_refused           the HTTP/2 connection preface
//   http_version_refused    a version other than 1.0 / 1.1
//   http_header_too_large   request line + headers over the cap
//   http_upgrade_refused    Upgrade / CONNECT: what follows would go unchecked
//   http_identity_in_trailer  a chunked trailer of the identity header's name
//   http_incomplete_request the client ended in the middle of a request head
#ifndef PALISADE_PROXY_CALLER_HTTP_IDENTITY_TRANSPORT_H_
#define PALISADE_PROXY_CALLER_HTTP_IDENTITY_TRANSPORT_H_

#include <http_parser.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/net/byte_buffer.h"
#include "runtime/net/transport.h"

namespace palisade::caller {

// Loop thread only. Writes, shutdown and close go to the inner transport
// untouched: only what is read from the client is rewritten.
class HttpIdentityTransport final : public net::Transport {
 public:
  HttpIdentityTransport(std::unique_ptr<net::Transport> inner, std::string header_name,
                        std::string header_value, size_t max_header_bytes);

  int fd() const override { return inner_->fd(); }
  net::IoResult Read(char* buffer, size_t length) override;
  net::IoResult Write(const char* data, size_t length) override {
    return inner_->Write(data, length);
  }
  net::IoResult ShutdownWrite() override { return inner_->ShutdownWrite(); }
  bool HasUnreadData() const override { return !out_.empty() || inner_->HasUnreadData(); }
  void ResetOnClose() override { inner_->ResetOnClose(); }
  const std::string& error() const override { return error_.empty() ? inner_->error() : error_; }

  uint64_t requests() const { return requests_; }

 private:
  enum class Phase { kHead, kBody };

  // Parses `n` bytes read into `data`, appending what the app gets to out_;
  // sets *in_place when that is exactly `data` (a body passing through).
  bool Process(char* data, size_t n, bool* in_place);
  bool FinishHead();
  net::IoResult Fail(const char* reason);
  net::IoResult Drain(char* buffer, size_t length);

  static int OnMessageBegin(http_parser* p);
  static int OnUrl(http_parser* p, const char* at, size_t n);
  static int OnHeaderField(http_parser* p, const char* at, size_t n);
  static int OnHeaderValue(http_parser* p, const char* at, size_t n);
  static int OnHeadersComplete(http_parser* p);
  static int OnMessageComplete(http_parser* p);

  std::unique_ptr<net::Transport> inner_;
  const std::string header_name_;
  const std::string header_line_;  // "<name>: <value>\r\n"
  const size_t max_header_bytes_;
  http_parser parser_;
  http_parser_settings settings_;
  Phase phase_ = Phase::kHead;
  size_t head_bytes_ = 0;  // of the request head being read
  bool first_request_ = true;
  std::string preface_;  // the connection's first bytes: "PRI" starts HTTP/2's preface
  std::string url_;
  // The request's headers are headers_[0, header_count_); the entries past
  // it are kept for their capacity.
  std::vector<std::pair<std::string, std::string>> headers_;
  size_t header_count_ = 0;
  std::string head_;  // the rewritten request head
  bool last_was_value_ = false;
  bool trailer_spoof_ = false;
  net::ByteBuffer out_;
  std::string error_;
  uint64_t requests_ = 0;
};

}  // namespace palisade::caller

#endif  // PALISADE_PROXY_CALLER_HTTP_IDENTITY_TRANSPORT_H_
