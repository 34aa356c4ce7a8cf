#include "runtime/http/https_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/http/http_response_parser.h"
#include "runtime/http/https_url.h"
#include "runtime/net/blocking_connect.h"
#include "runtime/status/status_macros.h"
#include "runtime/tls/connection_hooks.h"
#include "runtime/tls/context_setup.h"
#include "runtime/tls/server_check.h"
#include "runtime/tls/tls_transport.h"

namespace palisade::http {
namespace {

// Waits until `fd` is ready for `readiness` or `deadline` passes.
absl::Status WaitFor(int fd, net::Readiness readiness, absl::Time deadline,
                     absl::string_view origin, absl::string_view doing) {
  absl::Status s = net::WaitReady(fd, readiness, deadline);
  if (s.ok()) return s;
  if (absl::IsDeadlineExceeded(s)) {
    return absl::DeadlineExceededError(absl::StrCat(origin, ": timed out ", doing));
  }
  return absl::Status(s.code(), absl::StrCat(origin, ": ", s.message()));
}

// A connected socket to the first of `url`'s addresses that answers.
absl::StatusOr<net::UniqueFd> Connect(const HttpsUrl& url, absl::Time deadline) {
  absl::StatusOr<net::UniqueFd> fd = net::ConnectTcp(url.host, absl::StrCat(url.port), deadline);
  if (fd.ok()) return fd;
  if (absl::IsDeadlineExceeded(fd.status())) {
    return absl::DeadlineExceededError(absl::StrCat(url.Origin(), ": timed out connecting"));
  }
  return absl::Status(fd.status().code(), absl::StrCat(url.Origin(), ": ", fd.status().message()));
}

std::string RequestText(const HttpsUrl& url, const HttpsRequest& request) {
  std::string text =
      absl::StrCat(request.method, " ", url.target, " HTTP/1.1\r\nHost: ", url.Authority(),
                   "\r\nUser-Agent: palisade-control\r\nConnection: close\r\n");
  for (const auto& [name, value] : request.headers)
    absl::StrAppend(&text, name, ": ", value, "\r\n");
  if (!request.body.empty() || request.method == "POST") {
    absl::StrAppend(&text, "Content-Length: ", request.body.size(), "\r\n");
  }
  absl::StrAppend(&text, "\r\n", request.body);
  return text;
}

bool HasLineBreak(absl::string_view s) {
  return absl::StrContains(s, '\r') || absl::StrContains(s, '\n');
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpsClient>> HttpsClient::Create(
    std::shared_ptr<const verify::ServerRoots> roots, Options options) {
  if (roots == nullptr || roots->size() == 0) {
    return absl::InvalidArgumentError("an HTTPS client needs at least one root");
  }
  tls::ContextOptions context;
  context.role = tls::Role::kClient;
  ASSIGN_OR_RETURN(bssl::UniquePtr<SSL_CTX> ctx, tls::NewContext(context));
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(roots), options, std::move(ctx)));
}

absl::StatusOr<HttpsResponse> HttpsClient::Fetch(const HttpsRequest& request) const {
  ASSIGN_OR_RETURN(HttpsUrl url, ParseHttpsUrl(request.url));
  for (const auto& [name, value] : request.headers) {
    if (HasLineBreak(name) || HasLineBreak(value)) {
      return absl::InvalidArgumentError(absl::StrCat("header \"", name, "\" holds a line break"));
    }
  }
  const std::string origin = url.Origin();
  const absl::Time deadline = absl::Now() + options_.timeout;
  ASSIGN_OR_RETURN(net::UniqueFd fd, Connect(url, deadline));

  bssl::UniquePtr<SSL> ssl(SSL_new(context_.get()));
  if (!ssl) return absl::InternalError("SSL_new failed");
  tls::ServerCheck check(*roots_, url.host, options_.expected_spiffe_id);
  tls::AttachHooks(ssl.get(), &check);
  tls::SetServerNameIndication(ssl.get(), url.host);
  SSL_set_connect_state(ssl.get());
  tls::TlsTransport transport(std::move(fd), std::move(ssl));

  for (;;) {
    const net::IoResult r = transport.Handshake();
    if (r.status == net::IoStatus::kOk) break;
    if (r.status == net::IoStatus::kWouldBlock) {
      RETURN_IF_ERROR(WaitFor(transport.fd(), r.wants, deadline, origin, "in the TLS handshake"));
      continue;
    }
    if (!check.verdict().ok()) {
      return absl::UnauthenticatedError(absl::StrCat(origin, ": ", check.verdict().message()));
    }
    return absl::UnauthenticatedError(absl::StrCat(
        origin, ": TLS handshake failed: ", transport.error(), " ", transport.error_detail()));
  }
  tls::AttachHooks(transport.ssl(), nullptr);  // `check` goes out of scope first

  const std::string text = RequestText(url, request);
  for (size_t sent = 0; sent < text.size();) {
    const net::IoResult r = transport.Write(text.data() + sent, text.size() - sent);
    if (r.status == net::IoStatus::kOk) {
      sent += r.bytes;
    } else if (r.status == net::IoStatus::kWouldBlock) {
      RETURN_IF_ERROR(WaitFor(transport.fd(), r.wants, deadline, origin, "sending the request"));
    } else {
      return absl::UnavailableError(absl::StrCat(origin, ": sending: ", transport.error()));
    }
  }

  HttpResponseParser parser(options_.max_response_bytes);
  char buffer[16384];
  while (!parser.complete()) {
    const net::IoResult r = transport.Read(buffer, sizeof(buffer));
    absl::Status parsed;
    if (r.status == net::IoStatus::kOk) {
      parsed = parser.Feed(absl::string_view(buffer, r.bytes));
    } else if (r.status == net::IoStatus::kWouldBlock) {
      RETURN_IF_ERROR(WaitFor(transport.fd(), r.wants, deadline, origin, "reading the response"));
    } else if (r.status == net::IoStatus::kEof) {
      parsed = parser.FinishAtEof();
      if (parsed.ok() && !parser.complete()) {
        parsed = absl::InvalidArgumentError("the connection closed before the response ended");
      }
    } else {
      return absl::UnavailableError(absl::StrCat(origin, ": reading: ", transport.error()));
    }
    if (!parsed.ok())
      return absl::Status(parsed.code(), absl::StrCat(origin, ": ", parsed.message()));
  }
  HttpsResponse response;
  response.status = parser.status();
  response.body = parser.body();
  response.headers = parser.headers();
  return response;
}

}  // namespace palisade::http
