#include "proxy/config/config_defaults.h"

#include <algorithm>

namespace palisade::config {
namespace {

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

template <typename Message>
void DefaultDuration(Message* parent, bool (Message::*has)() const,
                     google::protobuf::Duration* (Message::*mutable_field)(), absl::Duration d) {
  if (!(parent->*has)()) SetDuration(d, (parent->*mutable_field)());
}

void DefaultLimits(bool inbound, v1::ListenerLimits* limits) {
  if (limits->max_connections() == 0) limits->set_max_connections(kDefaultMaxConnections);
  if (limits->buffer_high_water_bytes() == 0) {
    limits->set_buffer_high_water_bytes(kDefaultBufferHighWaterBytes);
  }
  if (limits->max_pending_handshakes() == 0) {
    limits->set_max_pending_handshakes(kDefaultMaxPendingHandshakes);
  }
  if (limits->max_pending_handshakes_per_source() == 0) {
    limits->set_max_pending_handshakes_per_source(
        inbound ? std::min(kDefaultMaxPendingHandshakesPerSource, limits->max_pending_handshakes())
                : limits->max_pending_handshakes());
  }
}

void DefaultTimeouts(v1::Timeouts* t) {
  DefaultDuration(t, &v1::Timeouts::has_handshake, &v1::Timeouts::mutable_handshake,
                  kDefaultHandshakeTimeout);
  DefaultDuration(t, &v1::Timeouts::has_connect, &v1::Timeouts::mutable_connect,
                  kDefaultConnectTimeout);
  DefaultDuration(t, &v1::Timeouts::has_idle, &v1::Timeouts::mutable_idle, kDefaultIdleTimeout);
}

}  // namespace

absl::Duration DurationOr(bool present, const google::protobuf::Duration& value,
                          absl::Duration fallback) {
  if (!present) return fallback;
  return absl::Seconds(value.seconds()) + absl::Nanoseconds(value.nanos());
}

void ApplyDefaults(unsigned hardware_threads, v1::ProxyConfig* config) {
  for (v1::InboundListener& in : *config->mutable_inbound()) {
    DefaultLimits(/*inbound=*/true, in.mutable_limits());
    if (in.has_caller_identity() && in.caller_identity().mode() == "http_header") {
      v1::CallerIdentity* caller = in.mutable_caller_identity();
      if (caller->header_name().empty()) caller->set_header_name(kDefaultCallerIdentityHeader);
      if (caller->max_header_bytes() == 0) {
        caller->set_max_header_bytes(kDefaultCallerIdentityMaxHeaderBytes);
      }
    }
    DefaultTimeouts(in.mutable_timeouts());
  }
  for (v1::OutboundListener& out : *config->mutable_outbound()) {
    DefaultLimits(/*inbound=*/false, out.mutable_limits());
    DefaultTimeouts(out.mutable_timeouts());
  }

  if (config->identity().has_control_plane()) {
    using Cp = v1::ControlPlaneIdentitySource;
    Cp* cp = config->mutable_identity()->mutable_control_plane();
    if (cp->renew_fraction() == 0) cp->set_renew_fraction(kDefaultRenewFraction);
    DefaultDuration(cp, &Cp::has_initial_backoff, &Cp::mutable_initial_backoff,
                    kDefaultInitialBackoff);
    DefaultDuration(cp, &Cp::has_max_backoff, &Cp::mutable_max_backoff, kDefaultMaxBackoff);
    if (cp->reattestation_token_file().empty() && cp->has_join_token_file() &&
        !cp->join_token_file().empty()) {
      cp->set_reattestation_token_file(cp->join_token_file() + kReattestationTokenSuffix);
    }
  }

  v1::AdminConfig* admin = config->mutable_admin();
  if (!admin->has_enabled()) admin->set_enabled(true);
  // A disabled admin server binds nothing, so it gets no address either.
  if (admin->enabled() && admin->address().empty()) admin->set_address(kDefaultAdminAddress);

  using Runtime = v1::RuntimeConfig;
  Runtime* runtime = config->mutable_runtime();
  if (runtime->workers() == 0) runtime->set_workers(std::max(1u, hardware_threads));
  DefaultDuration(runtime, &Runtime::has_drain_timeout, &Runtime::mutable_drain_timeout,
                  kDefaultDrainTimeout);
  DefaultDuration(runtime, &Runtime::has_startup_hold, &Runtime::mutable_startup_hold,
                  kDefaultStartupHold);
  DefaultDuration(runtime, &Runtime::has_dns_cache, &Runtime::mutable_dns_cache, kDefaultDnsCache);

  using Tls = v1::TlsConfig;
  Tls* tls = config->mutable_tls();
  if (tls->min_version().empty()) tls->set_min_version(kDefaultTlsMinVersion);
  if (!tls->has_session_resumption()) tls->set_session_resumption(kDefaultSessionResumption);
  if (!tls->has_verified_chain_cache()) tls->set_verified_chain_cache(kDefaultVerifiedChainCache);
  DefaultDuration(tls, &Tls::has_ticket_key_rotation, &Tls::mutable_ticket_key_rotation,
                  kDefaultTicketKeyRotation);

  v1::LoggingConfig* logging = config->mutable_logging();
  if (logging->level().empty()) logging->set_level(kDefaultLogLevel);
  if (logging->format().empty()) logging->set_format(kDefaultLogFormat);
  if (!logging->has_access_log()) logging->set_access_log(kDefaultAccessLog);

  v1::MetricsConfig* metrics = config->mutable_metrics();
  if (!metrics->has_enabled()) metrics->set_enabled(true);
  if (metrics->max_peer_identities() == 0) {
    metrics->set_max_peer_identities(kDefaultMaxPeerIdentities);
  }

  using Reauth = v1::ReauthenticationConfig;
  Reauth* reauth = config->mutable_reauthentication();
  if (!reauth->has_on_peer_expiry()) {
    reauth->set_on_peer_expiry(kDefaultReauthenticateOnPeerExpiry);
  }
  if (!reauth->has_on_root_removed()) reauth->set_on_root_removed(kDefaultReauthenticate);
  if (!reauth->has_on_policy_change()) reauth->set_on_policy_change(kDefaultReauthenticate);
  if (!reauth->has_on_revocation()) reauth->set_on_revocation(kDefaultReauthenticate);
  DefaultDuration(reauth, &Reauth::has_grace_period, &Reauth::mutable_grace_period,
                  kDefaultGracePeriod);
}

}  // namespace palisade::config
