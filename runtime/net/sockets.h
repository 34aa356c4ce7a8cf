// Thin, error-checked wrappers over the socket calls the data plane makes:
// listening sockets (SO_REUSEPORT, one per worker), non-blocking connects.
#ifndef PALISADE_RUNTIME_NET_SOCKETS_H_
#define PALISADE_RUNTIME_NET_SOCKETS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/unique_fd.h"

namespace palisade::net {

// A non-blocking listening TCP socket. With `reuse_port` several sockets
// (one per worker) share the address and the kernel spreads connections.
absl::StatusOr<UniqueFd> BindListener(const SocketAddress& address, bool reuse_port,
                                      int backlog = 1024);

absl::StatusOr<SocketAddress> LocalAddressOf(int fd);
absl::StatusOr<SocketAddress> PeerAddressOf(int fd);
// Where a connection redirected by iptables (nat REDIRECT) was going
// (SO_ORIGINAL_DST, IPv4 and IPv6). Without a redirect it is the socket's
// own local address.
absl::StatusOr<SocketAddress> OriginalDestinationOf(int fd);

// Starts a non-blocking connect; the fd becomes writable when it completes,
// then ConnectResult() tells how it went. A non-zero `mark` is set as SO_MARK
// first, so capture rules can recognise the proxy's own traffic.
absl::StatusOr<UniqueFd> StartConnect(const SocketAddress& address, uint32_t mark = 0);
absl::Status ConnectResult(int fd);

// TCP_NODELAY: the proxy forwards what it gets at once; batching is the
// endpoints' business.
void SetNoDelay(int fd);

// Bytes waiting in the socket's receive queue (0 on error).
int UnreadBytes(int fd);
// SO_LINGER with a zero timeout: closing the socket sends RST, not FIN.
void SetResetOnClose(int fd);

// The reason code of a socket errno as used in metrics and access logs
// ("connection_refused", "connection_reset", ...).
const char* SocketErrorReason(int error_number);

// Every value SocketErrorReason gives, e.g. to create metric series at zero.
std::vector<std::string> KnownSocketErrorReasons();

}  // namespace palisade::net

#endif  // PALISADE_RUNTIME_NET_SOCKETS_H_
