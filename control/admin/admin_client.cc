#include "control/admin/admin_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"
#include "runtime/net/unique_fd.h"

namespace palisade::control::admin {
namespace {

// Waits until `fd` is ready for `events` or the deadline passes.
bool WaitReady(int fd, short events, absl::Time deadline) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

}  // namespace

absl::StatusOr<AdminResponse> AdminRequest(const std::string& address, const std::string& method,
                                           const std::string& path, const std::string& body,
                                           const std::string& bearer_token,
                                           absl::Duration timeout) {
  absl::StatusOr<net::SocketAddress> target = net::SocketAddress::Parse(address);
  if (!target.ok())
    return absl::InvalidArgumentError(absl::StrCat("--admin: ", target.status().message()));
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<net::UniqueFd> fd = net::StartConnect(*target);
  if (!fd.ok()) return absl::UnavailableError(absl::StrCat(address, ": ", fd.status().message()));
  if (!WaitReady(fd->get(), POLLOUT, deadline) || !net::ConnectResult(fd->get()).ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach palisade-control's admin API at ", address,
                     " (is `palisade-control serve` running? see --admin)"));
  }
  const std::string authorization =
      bearer_token.empty() ? "" : absl::StrCat("Authorization: Bearer ", bearer_token, "\r\n");
  std::string request =
      absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", address,
                   "\r\nConnection: close\r\nContent-Type: application/json\r\n", authorization,
                   "Content-Length: ", body.size(), "\r\n\r\n", body);
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd->get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitReady(fd->get(), POLLOUT, deadline))
        return absl::DeadlineExceededError("send timed out");
    } else {
      return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    }
  }
  std::string response;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(fd->get(), buffer, sizeof(buffer), 0);
    if (n > 0) {
      response.append(buffer, static_cast<size_t>(n));
      if (response.size() > (64 << 20)) return absl::ResourceExhaustedError("response too large");
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!WaitReady(fd->get(), POLLIN, deadline)) {
        return absl::DeadlineExceededError("palisade-control did not answer in time");
      }
    } else {
      return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
    }
  }
  const size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) return absl::DataLossError("malformed HTTP response");
  const std::vector<absl::string_view> status_line =
      absl::StrSplit(absl::string_view(response).substr(0, response.find("\r\n")), ' ');
  AdminResponse out;
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &out.status)) {
    return absl::DataLossError("malformed HTTP status line");
  }
  const std::string headers = absl::AsciiStrToLower(response.substr(0, header_end));
  out.body = response.substr(header_end + 4);
  if (headers.find("transfer-encoding: chunked") != std::string::npos) {
    // Undo chunked encoding.
    std::string decoded;
    absl::string_view rest = out.body;
    for (;;) {
      const size_t eol = rest.find("\r\n");
      if (eol == absl::string_view::npos) break;
      size_t length = 0;
      const std::string size_text(rest.substr(0, eol));
      length = std::strtoul(size_text.c_str(), nullptr, 16);
      rest.remove_prefix(eol + 2);
      if (length == 0 || rest.size() < length) break;
      decoded.append(rest.data(), length);
      rest.remove_prefix(std::min(rest.size(), length + 2));
    }
    out.body = std::move(decoded);
  }
  return out;
}

}  // namespace palisade::control::admin
