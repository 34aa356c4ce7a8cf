#include "proxy/identity_client/control_plane_candidates.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/log/logging.h"
#include "runtime/sync/mutex.h"

namespace palisade::identity_client {
namespace {

absl::StatusOr<std::vector<std::string>> GetAddrInfo(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::vector<std::string> addresses;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[NI_MAXHOST];
    if (::getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof(text), nullptr, 0, NI_NUMERICHOST) ==
        0) {
      addresses.emplace_back(text);
    }
  }
  ::freeaddrinfo(found);
  return addresses;
}

// getaddrinfo(3) on a thread of its own, waited for at most `limit`: a name
// server that does not answer must not hold up the control thread (and
// Stop()) for the resolver's own timeouts. The thread finishes on its own.
absl::StatusOr<std::vector<std::string>> GetAddrInfoWithin(const std::string& host,
                                                           absl::Duration limit) {
  struct Lookup {
    sync::Mutex mutex;
    bool done ABSL_GUARDED_BY(mutex) = false;
    absl::StatusOr<std::vector<std::string>> result ABSL_GUARDED_BY(mutex);
  };
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host] {
    absl::StatusOr<std::vector<std::string>> result = GetAddrInfo(host);
    sync::MutexLock lock(&lookup->mutex);
    lookup->result = std::move(result);
    lookup->done = true;
    lookup->mutex.NotifyAll();
  }).detach();
  sync::MutexLock lock(&lookup->mutex);
  if (!lookup->mutex.AwaitWithTimeout([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return lookup->done; },
                                      limit)) {
    return absl::DeadlineExceededError(
        absl::StrCat("no answer for ", host, " within ", absl::FormatDuration(limit)));
  }
  return lookup->result;
}

std::string Join(const std::string& ip, uint16_t port) {
  return absl::StrContains(ip, ':') ? absl::StrCat("[", ip, "]:", port)
                                    : absl::StrCat(ip, ":", port);
}

}  // namespace

std::vector<std::string> ControlPlaneCandidates::Configured(
    const config::v1::ControlPlaneIdentitySource& config) {
  std::vector<std::string> addresses;
  if (!config.address().empty()) addresses.push_back(config.address());
  for (const std::string& address : config.addresses()) addresses.push_back(address);
  return addresses;
}

ControlPlaneCandidates::ControlPlaneCandidates(Options options)
    : options_([&] {
        if (!options.resolve) {
          options.resolve = [limit = options.resolve_timeout](const std::string& host) {
            return GetAddrInfoWithin(host, limit);
          };
        }
        if (!options.unit_random) options.unit_random = [] { return 0.0; };
        return std::move(options);
      }()) {}

void ControlPlaneCandidates::Expand() {
  list_.clear();
  absl::flat_hash_set<std::string> seen;
  const auto add = [&](std::string address) {
    if (seen.insert(address).second) list_.push_back(std::move(address));
  };
  for (const std::string& configured : options_.addresses) {
    absl::StatusOr<net::HostPort> target = net::HostPort::Parse(configured);
    if (!target.ok() || net::IsIpLiteral(target->host)) {
      add(configured);  // the dialer reports a bad one
      continue;
    }
    absl::StatusOr<std::vector<std::string>> ips = options_.resolve(target->host);
    if (!ips.ok() || ips->size() < 2) {
      // One address (or none yet): dialled by name as before, so the dialer
      // resolves it and reports a failure.
      add(configured);
      continue;
    }
    // Fisher-Yates with the injected randomness: proxies spread over the
    // replicas behind one name instead of all taking the first.
    std::vector<std::string> shuffled = *std::move(ips);
    for (size_t i = shuffled.size() - 1; i > 0; --i) {
      const size_t j = std::min(i, static_cast<size_t>(options_.unit_random() * (i + 1)));
      std::swap(shuffled[i], shuffled[j]);
    }
    for (const std::string& ip : shuffled) add(Join(ip, target->port));
    log::LogEvent(log::Level::kDebug, "control", "control-plane name resolved to several replicas",
                  {{"address", configured}, {"replicas", shuffled.size()}});
  }
  if (list_.empty()) list_.push_back("");  // no address configured: the dialer refuses it
  index_ = 0;
}

const std::string& ControlPlaneCandidates::Current() {
  if (list_.empty()) Expand();
  return list_[index_];
}

size_t ControlPlaneCandidates::size() {
  if (list_.empty()) Expand();
  return list_.size();
}

void ControlPlaneCandidates::Advance() {
  if (list_.empty()) Expand();
  if (++index_ >= list_.size()) Expand();  // a new pass: names resolved again
}

bool ControlPlaneCandidates::OnEnded(Ended ended) {
  switch (ended) {
    case Ended::kReconnect:
      tried_ = 0;
      return false;
    case Ended::kWorked:
      tried_ = 1;  // a new round, this replica in it
      break;
    case Ended::kFailed:
      ++tried_;
      break;
  }
  Advance();
  if (tried_ < list_.size()) return false;
  tried_ = 0;
  return true;
}

}  // namespace palisade::identity_client
