// Which palisade-control replica the next Watch stream goes to: the
// configured addresses (identity.control_plane.address, then .addresses) in
// order, a name that resolves to several addresses expanded to all of them
// (a Kubernetes headless Service), and when a replica fails the next one at
// once; the reconnect backoff applies only after a whole round failed.
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_CONTROL_PLANE_CANDIDATES_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_CONTROL_PLANE_CANDIDATES_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/palisade/config/v1/config.pb.h"
#include "runtime/net/socket_address.h"

namespace palisade::identity_client {

// Not thread-safe: owned by the control thread.
class ControlPlaneCandidates {
 public:
  // The IP addresses (text, no port) `host` resolves to.
  using Resolve = std::function<absl::StatusOr<std::vector<std::string>>(const std::string& host)>;
  struct Options {
    // "host:port" each, in the order tried; at least one.
    std::vector<std::string> addresses;
    // Default: getaddrinfo(3), waited for at most resolve_timeout (a name
    // without an answer by then is dialled by name, as with one address).
    Resolve resolve;
    absl::Duration resolve_timeout = absl::Seconds(2);
    // Uniform [0, 1): shuffles the addresses of one name, so a fleet behind
    // one Service name spreads over the replicas. Default: always 0.
    std::function<double()> unit_random;
  };

  // address, then addresses, of a validated config.
  static std::vector<std::string> Configured(const config::v1::ControlPlaneIdentitySource& config);

  explicit ControlPlaneCandidates(Options options);

  // The "host:port" the next attempt dials. Names are (re)resolved when a
  // round starts over at the first configured address.
  const std::string& Current();

  // How the attempt on Current() ended.
  enum class Ended {
    kFailed,     // connect, handshake or a stream that never worked
    kWorked,     // a stream that worked, then broke or was ended
    kReconnect,  // the server ended a bootstrap stream: same replica, at once
  };
  // Moves on (except after kReconnect). True when the next attempt must wait
  // for the backoff: every candidate of this round was tried without a
  // stream that worked (a stream that worked and broke counts as tried, so a
  // single replica backs off as it always did).
  bool OnEnded(Ended ended);

  size_t size();

 private:
  void Expand();
  void Advance();

  const Options options_;
  std::vector<std::string> list_;  // expanded; empty until first needed
  size_t index_ = 0;
  size_t tried_ = 0;  // candidates of this round that did not keep a stream
};

}  // namespace palisade::identity_client

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_CONTROL_PLANE_CANDIDATES_H_
