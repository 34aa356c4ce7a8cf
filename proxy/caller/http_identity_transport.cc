#include "proxy/caller/http_identity_transport.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace palisade::caller {
namespace {

HttpIdentityTransport* Self(http_parser* p) { return static_cast<HttpIdentityTransport*>(p->data); }

}  // namespace

HttpIdentityTransport::HttpIdentityTransport(std::unique_ptr<net::Transport> inner,
                                             std::string header_name, std::string header_value,
                                             size_t max_header_bytes)
    : inner_(std::move(inner)),
      header_name_(std::move(header_name)),
      header_line_(absl::StrCat(header_name_, ": ", header_value, "\r\n")),
      max_header_bytes_(max_header_bytes) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &HttpIdentityTransport::OnMessageBegin;
  settings_.on_url = &HttpIdentityTransport::OnUrl;
  settings_.on_header_field = &HttpIdentityTransport::OnHeaderField;
  settings_.on_header_value = &HttpIdentityTransport::OnHeaderValue;
  settings_.on_headers_complete = &HttpIdentityTransport::OnHeadersComplete;
  settings_.on_message_complete = &HttpIdentityTransport::OnMessageComplete;
}

net::IoResult HttpIdentityTransport::Read(char* buffer, size_t length) {
  if (!out_.empty()) return Drain(buffer, length);
  if (!error_.empty()) return net::IoResult{net::IoStatus::kError};
  // A read that ends inside a request head yields nothing yet: read on until
  // there is something to hand over, or the socket has no more for now.
  for (;;) {
    const net::IoResult r = inner_->Read(buffer, length);
    if (r.status == net::IoStatus::kEof) {
      // Bytes of a head already taken in would be lost: not a clean end.
      if (phase_ == Phase::kHead && head_bytes_ > 0) return Fail("http_incomplete_request");
      return r;
    }
    if (r.status != net::IoStatus::kOk) return r;
    bool in_place = false;
    if (!Process(buffer, r.bytes, &in_place)) return net::IoResult{net::IoStatus::kError};
    if (in_place) return r;
    if (!out_.empty()) return Drain(buffer, length);
  }
}

net::IoResult HttpIdentityTransport::Drain(char* buffer, size_t length) {
  const size_t n = std::min(length, out_.size());
  std::memcpy(buffer, out_.data(), n);
  out_.Consume(n);
  return net::IoResult{net::IoStatus::kOk, n};
}

net::IoResult HttpIdentityTransport::Fail(const char* reason) {
  error_ = reason;
  return net::IoResult{net::IoStatus::kError};
}

bool HttpIdentityTransport::Process(char* data, size_t n, bool* in_place) {
  const char* p = data;
  size_t left = n;
  // The head's last byte (LF): the parser stops on it when it reports the
  // headers complete and consumes it as the first byte of the body phase.
  size_t skip = 0;
  auto fail = [this](const char* reason) {
    Fail(reason);
    return false;
  };
  if (first_request_ && preface_.size() < 3) {
    preface_.append(data, std::min(n, 3 - preface_.size()));
  }
  while (left > 0) {
    const size_t parsed = http_parser_execute(&parser_, &settings_, p, left);
    const http_errno err = HTTP_PARSER_ERRNO(&parser_);
    if (err != HPE_OK && err != HPE_PAUSED) {
      if (err == HPE_HEADER_OVERFLOW) return fail("http_header_too_large");
      if (first_request_ && preface_ == "PRI") return fail("http2_refused");
      return fail("http_bad_request");
    }
    if (phase_ == Phase::kHead) {
      head_bytes_ += parsed;
      if (head_bytes_ + (err == HPE_PAUSED ? 1 : 0) > max_header_bytes_) {
        return fail("http_header_too_large");
      }
      p += parsed;
      left -= parsed;
      if (err == HPE_PAUSED) {
        http_parser_pause(&parser_, 0);
        if (!FinishHead()) return false;
        phase_ = Phase::kBody;
        skip = 1;
      } else if (parsed == 0) {
        return fail("http_bad_request");  // no progress: never spin
      }
      continue;
    }
    // Body (and trailers): the bytes as they came.
    if (trailer_spoof_) return fail("http_identity_in_trailer");
    const size_t skipped = std::min(skip, parsed);
    skip -= skipped;
    const char* body = p + skipped;
    const size_t body_size = parsed - skipped;
    if (body == data && body_size == n && out_.empty()) {
      *in_place = true;
    } else {
      out_.Append(body, body_size);
    }
    p += parsed;
    left -= parsed;
    if (err == HPE_PAUSED) {  // the request is complete; the next one may follow
      http_parser_pause(&parser_, 0);
      phase_ = Phase::kHead;
      head_bytes_ = 0;
      first_request_ = false;
    } else if (parsed == 0) {
      return fail("http_bad_request");
    }
  }
  return true;
}

bool HttpIdentityTransport::FinishHead() {
  if (parser_.http_major != 1 || parser_.http_minor > 1) {
    Fail(parser_.http_major == 2 ? "http2_refused" : "http_version_refused");
    return false;
  }
  // After an upgrade or CONNECT the bytes are another protocol, which this
  // cannot check; passing them on would let a later request carry a spoofed
  // header should the app decline the upgrade.
  if (parser_.upgrade) {
    Fail("http_upgrade_refused");
    return false;
  }
  const char* method = http_method_str(static_cast<http_method>(parser_.method));
  // head_ and the header strings keep their capacity from request to
  // request: a keep-alive connection allocates nothing per request here.
  head_.clear();
  absl::StrAppend(&head_, method, " ", url_, " HTTP/1.", parser_.http_minor, "\r\n");
  for (size_t i = 0; i < header_count_; ++i) {
    const auto& [name, value] = headers_[i];
    if (absl::EqualsIgnoreCase(name, header_name_)) continue;  // the client's own: a spoof
    if (value.find_first_of("\r\n") != std::string::npos) {
      Fail("http_bad_request");
      return false;
    }
    absl::StrAppend(&head_, name, ": ", value, "\r\n");
  }
  absl::StrAppend(&head_, header_line_, "\r\n");
  out_.Append(head_.data(), head_.size());
  ++requests_;
  return true;
}

int HttpIdentityTransport::OnMessageBegin(http_parser* p) {
  HttpIdentityTransport* self = Self(p);
  self->url_.clear();
  self->header_count_ = 0;
  self->last_was_value_ = false;
  return 0;
}

int HttpIdentityTransport::OnUrl(http_parser* p, const char* at, size_t n) {
  Self(p)->url_.append(at, n);
  return 0;
}

int HttpIdentityTransport::OnHeaderField(http_parser* p, const char* at, size_t n) {
  HttpIdentityTransport* self = Self(p);
  if (self->header_count_ == 0 || self->last_was_value_) {
    if (self->header_count_ == self->headers_.size()) self->headers_.emplace_back();
    auto& [name, value] = self->headers_[self->header_count_++];
    name.clear();
    value.clear();
  }
  self->headers_[self->header_count_ - 1].first.append(at, n);
  self->last_was_value_ = false;
  return 0;
}

int HttpIdentityTransport::OnHeaderValue(http_parser* p, const char* at, size_t n) {
  HttpIdentityTransport* self = Self(p);
  if (self->header_count_ == 0) return 0;  // cannot happen: a value follows a field
  auto& [name, value] = self->headers_[self->header_count_ - 1];
  if (!self->last_was_value_ && self->phase_ == Phase::kBody &&
      absl::EqualsIgnoreCase(name, self->header_name_)) {
    // A trailer: it passes through as sent, so one of our name is refused.
    self->trailer_spoof_ = true;
  }
  value.append(at, n);
  self->last_was_value_ = true;
  return 0;
}

int HttpIdentityTransport::OnHeadersComplete(http_parser* p) {
  // Stop here: the head is rewritten before the body's bytes are passed on.
  http_parser_pause(p, 1);
  return 0;
}

int HttpIdentityTransport::OnMessageComplete(http_parser* p) {
  http_parser_pause(p, 1);
  return 0;
}

}  // namespace palisade::caller
