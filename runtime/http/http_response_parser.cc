#include "runtime/http/http_response_parser.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace palisade::http {
namespace {

HttpResponseParser* Self(http_parser* parser) {
  return static_cast<HttpResponseParser*>(parser->data);
}

}  // namespace

HttpResponseParser::HttpResponseParser(size_t max_body_bytes) : max_body_bytes_(max_body_bytes) {
  http_parser_init(&parser_, HTTP_RESPONSE);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_header_field = &HttpResponseParser::OnHeaderField;
  settings_.on_header_value = &HttpResponseParser::OnHeaderValue;
  settings_.on_headers_complete = &HttpResponseParser::OnHeadersComplete;
  settings_.on_body = &HttpResponseParser::OnBody;
  settings_.on_message_complete = &HttpResponseParser::OnMessageComplete;
}

// Field and value may arrive in pieces (a read boundary inside a header).
int HttpResponseParser::OnHeaderField(http_parser* parser, const char* at, size_t length) {
  HttpResponseParser* self = Self(parser);
  if (self->in_value_ || self->headers_.empty()) self->headers_.emplace_back();
  self->in_value_ = false;
  self->headers_.back().first.append(absl::AsciiStrToLower(absl::string_view(at, length)));
  return 0;
}

int HttpResponseParser::OnHeaderValue(http_parser* parser, const char* at, size_t length) {
  HttpResponseParser* self = Self(parser);
  if (self->headers_.empty()) return 1;
  self->in_value_ = true;
  self->headers_.back().second.append(at, length);
  return 0;
}

int HttpResponseParser::OnHeadersComplete(http_parser* parser) {
  Self(parser)->status_ = static_cast<int>(parser->status_code);
  return 0;
}

int HttpResponseParser::OnBody(http_parser* parser, const char* at, size_t length) {
  HttpResponseParser* self = Self(parser);
  if (self->body_.size() + length > self->max_body_bytes_) {
    self->too_large_ = true;
    return 1;  // stops the parser
  }
  self->body_.append(at, length);
  return 0;
}

int HttpResponseParser::OnMessageComplete(http_parser* parser) {
  Self(parser)->complete_ = true;
  http_parser_pause(parser, 1);  // one response; the rest is not ours
  return 0;
}

absl::Status HttpResponseParser::Error() const {
  if (too_large_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("response body larger than ", max_body_bytes_, " bytes"));
  }
  const auto error = static_cast<http_errno>(parser_.http_errno);
  return absl::InvalidArgumentError(
      absl::StrCat("malformed HTTP response: ", http_errno_name(error), " (",
                   http_errno_description(error), ")"));
}

absl::Status HttpResponseParser::Feed(absl::string_view data) {
  if (complete_) return absl::OkStatus();
  http_parser_execute(&parser_, &settings_, data.data(), data.size());
  if (complete_) return absl::OkStatus();
  if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK) return Error();
  return absl::OkStatus();
}

absl::Status HttpResponseParser::FinishAtEof() {
  if (complete_) return absl::OkStatus();
  http_parser_execute(&parser_, &settings_, nullptr, 0);
  if (complete_) return absl::OkStatus();
  if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK) return Error();
  return absl::InvalidArgumentError(
      "malformed HTTP response: the connection closed before its end");
}

}  // namespace palisade::http
