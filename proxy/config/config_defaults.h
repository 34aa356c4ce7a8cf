// The defaults documented in config.proto, in one place, and the step that
// writes them into a configuration so that what the proxy runs with is what an
// admin endpoint prints: nothing is left to "absent means default".
#ifndef PALISADE_PROXY_CONFIG_CONFIG_DEFAULTS_H_
#define PALISADE_PROXY_CONFIG_CONFIG_DEFAULTS_H_

#include <cstdint>

#include "absl/time/time.h"
#include "proto/palisade/config/v1/config.pb.h"

namespace palisade::config {

inline constexpr absl::Duration kDefaultHandshakeTimeout = absl::Seconds(10);
inline constexpr absl::Duration kDefaultConnectTimeout = absl::Seconds(5);
inline constexpr absl::Duration kDefaultIdleTimeout = absl::Hours(1);
inline constexpr uint32_t kDefaultMaxConnections = 10000;
inline constexpr uint32_t kDefaultBufferHighWaterBytes = 262144;
inline constexpr uint32_t kDefaultMaxPendingHandshakes = 4096;
// Inbound; an outbound listener's one source is the local app, whose share
// is the whole of max_pending_handshakes.
// One peer proxy bursting a thousand new connections stays well inside it.
inline constexpr uint32_t kDefaultMaxPendingHandshakesPerSource = 2048;
inline constexpr char kDefaultAdminAddress[] = "127.0.0.1:15000";
inline constexpr absl::Duration kDefaultDrainTimeout = absl::Seconds(30);
inline constexpr absl::Duration kDefaultStartupHold = absl::Seconds(15);
inline constexpr absl::Duration kDefaultDnsCache = absl::Seconds(5);
inline constexpr char kDefaultTlsMinVersion[] = "1.2";
inline constexpr bool kDefaultSessionResumption = true;
inline constexpr bool kDefaultVerifiedChainCache = true;
inline constexpr absl::Duration kDefaultTicketKeyRotation = absl::Hours(1);
inline constexpr char kDefaultLogLevel[] = "info";
inline constexpr char kDefaultLogFormat[] = "text";
inline constexpr bool kDefaultAccessLog = true;
inline constexpr uint32_t kDefaultMaxPeerIdentities = 1000;
inline constexpr bool kDefaultReauthenticate = true;
// A peer's certificate running out is routine rotation, not a loss of trust:
// the peer has renewed, and its live connections are left alone.
inline constexpr bool kDefaultReauthenticateOnPeerExpiry = false;
inline constexpr absl::Duration kDefaultGracePeriod = absl::Seconds(10);
inline constexpr double kDefaultRenewFraction = 0.5;
inline constexpr absl::Duration kDefaultInitialBackoff = absl::Seconds(1);
inline constexpr absl::Duration kDefaultMaxBackoff = absl::Seconds(30);
// caller_identity in http_header mode.
inline constexpr char kDefaultCallerIdentityHeader[] = "x-forwarded-client-cert";
inline constexpr uint32_t kDefaultCallerIdentityMaxHeaderBytes = 65536;
// reattestation_token_file defaults to join_token_file + this.
inline constexpr char kReattestationTokenSuffix[] = ".reattest";

// Fills every field left unset (or zero, where the schema says zero means the
// default) with its documented default. `workers: 0` becomes
// `hardware_threads` (at least 1). Messages that select behaviour (identity
// source, authorization, expected_peer) are never invented. Idempotent.
void ApplyDefaults(unsigned hardware_threads, v1::ProxyConfig* config);

// The value of a Duration field, or `fallback` when it is absent.
absl::Duration DurationOr(bool present, const google::protobuf::Duration& value,
                          absl::Duration fallback);

}  // namespace palisade::config

#endif  // PALISADE_PROXY_CONFIG_CONFIG_DEFAULTS_H_
