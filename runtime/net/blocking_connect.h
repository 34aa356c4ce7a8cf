// Blocking TCP connect with a deadline, for a thread that owns its
// connection (an HTTPS fetch, one etcd TLS bridge connection) rather than an
// event loop (tls_dialer.h): resolve, connect to the first address that
// answers, and wait on a socket until it is ready, the deadline passes or the
// caller stops.
#ifndef PALISADE_RUNTIME_NET_BLOCKING_CONNECT_H_
#define PALISADE_RUNTIME_NET_BLOCKING_CONNECT_H_

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/net/transport.h"
#include "runtime/net/unique_fd.h"

namespace palisade::net {

// OK once `fd` is ready for `readiness`; DeadlineExceeded once `deadline`
// passes; Cancelled once `*stopping` (may be null) is set, noticed within
// 200 ms; Unavailable "poll: ..." when poll fails.
absl::Status WaitReady(int fd, Readiness readiness, absl::Time deadline,
                       const std::atomic<bool>* stopping = nullptr);

// A connected, non-blocking TCP socket to `host`:`port` (numeric port), to
// the first of its addresses that answers. Unavailable "cannot resolve
// <host>: ...", "connect to <address>: ..." (the last address's failure) or
// "no address"; DeadlineExceeded "connect to <address>" when `deadline`
// passes while connecting; Cancelled when `*stopping` is set meanwhile.
absl::StatusOr<UniqueFd> ConnectTcp(const std::string& host, const std::string& port,
                                    absl::Time deadline,
                                    const std::atomic<bool>* stopping = nullptr);

}  // namespace palisade::net

#endif  // PALISADE_RUNTIME_NET_BLOCKING_CONNECT_H_
