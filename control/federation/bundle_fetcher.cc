#include "control/federation/bundle_fetcher.h"

#include <algorithm>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/auth/refusal.h"
#include "control/federation/bundle_acceptance.h"
#include "identity/spiffe_id.h"
#include "runtime/files/files.h"
#include "runtime/http/https_client.h"
#include "runtime/log/logging.h"
#include "runtime/verify/server_name_verifier.h"

namespace palisade::control::federation {
namespace {

constexpr char kLogger[] = "federation";

struct Fetched {
  std::string result;  // "ok" or a kRefreshResults entry
  std::string detail;
  std::string body;
};

// GETs the document, judging the server by the domain's profile.
Fetched Get(const FederatedDomain& domain, const FederatedBundles& bundles,
            absl::Duration timeout) {
  http::HttpsClient::Options options;
  options.timeout = timeout;
  options.max_response_bytes = identity::kMaxSpiffeBundleSize;
  absl::StatusOr<verify::ServerRoots> roots;
  if (domain.profile == EndpointProfile::kHttpsSpiffe) {
    // The endpoint's SVID must chain to the domain's CURRENT bundle (the
    // last good one): a partner's rotation moves its endpoint along.
    options.expected_spiffe_id = domain.endpoint_spiffe_id;
    roots = verify::ServerRoots::FromPem(bundles.AnchorsPem(domain.trust_domain));
  } else {
    // Re-read each time: the operator may replace the CA file.
    absl::StatusOr<std::string> pem = files::ReadSmallFile(domain.ca_file, "ca_file");
    roots = pem.ok() ? verify::ServerRoots::FromPem(*pem)
                     : absl::StatusOr<verify::ServerRoots>(pem.status());
  }
  if (!roots.ok()) return {"tls_error", std::string(roots.status().message()), ""};
  absl::StatusOr<std::unique_ptr<http::HttpsClient>> client = http::HttpsClient::Create(
      std::make_shared<const verify::ServerRoots>(*std::move(roots)), options);
  if (!client.ok()) return {"tls_error", std::string(client.status().message()), ""};
  http::HttpsRequest request;
  request.url = domain.bundle_endpoint_url;
  request.headers.emplace_back("Accept", "application/json");
  absl::StatusOr<http::HttpsResponse> response = (*client)->Fetch(request);
  if (!response.ok()) {
    // VerifyServerSpiffeId's words for a trusted SVID of another ID.
    if (absl::IsUnauthenticated(response.status()) &&
        absl::StrContains(response.status().message(), "it is an SVID of")) {
      return {"wrong_spiffe_id", std::string(response.status().message()), ""};
    }
    return {absl::IsUnauthenticated(response.status()) ? "tls_error" : "network_error",
            std::string(response.status().message()), ""};
  }
  if (response->status != 200) {
    return {"http_error",
            absl::StrCat(domain.bundle_endpoint_url, ": HTTP status ", response->status), ""};
  }
  return {"ok", "", std::move(response->body)};
}

}  // namespace

BundleFetcher::BundleFetcher(std::vector<FederatedDomain> domains, FederatedBundles* bundles,
                             Options options, std::function<void(const Outcome&)> on_outcome)
    : domains_(std::move(domains)),
      bundles_(bundles),
      options_(options),
      on_outcome_(std::move(on_outcome)),
      failures_(domains_.size(), 0),
      logged_problem_(domains_.size()) {}

BundleFetcher::~BundleFetcher() { Stop(); }

void BundleFetcher::Start() {
  if (domains_.empty()) return;
  thread_ = std::thread([this] { Run(); });
}

void BundleFetcher::Stop() {
  {
    sync::MutexLock lock(&mu_);
    stopping_ = true;
    mu_.NotifyAll();
  }
  if (thread_.joinable()) thread_.join();
}

absl::Duration BundleFetcher::NextWait(const Options& options, std::optional<absl::Duration> hint,
                                       int failures) {
  const absl::Duration interval =
      std::clamp(hint.value_or(options.max_refresh), options.min_refresh, options.max_refresh);
  if (failures == 0) return interval;
  absl::Duration backoff = options.min_refresh;
  for (int i = 1; i < failures && backoff < interval; ++i) backoff *= 2;
  return std::min(backoff, interval);
}

BundleFetcher::Outcome BundleFetcher::FetchOnce(size_t index) {
  const FederatedDomain& domain = domains_[index];
  Outcome outcome;
  outcome.trust_domain = domain.trust_domain;
  Fetched fetched = Get(domain, *bundles_, options_.timeout);
  const absl::Time now = absl::Now();
  if (fetched.result == "ok") {
    absl::StatusOr<identity::SpiffeBundle> parsed =
        identity::ParseSpiffeBundle(fetched.body, domain.trust_domain);
    if (!parsed.ok()) {
      fetched = {"malformed",
                 absl::StrCat(domain.bundle_endpoint_url, ": ", parsed.status().message()), ""};
    } else if (absl::Status s =
                   bundles_->Offer(domain.trust_domain, *std::move(parsed), now, &outcome.changed);
               !s.ok()) {
      fetched = {auth::RefusalReason(s),
                 absl::StrCat(domain.bundle_endpoint_url, ": ", s.message()), ""};
    }
  }
  if (fetched.result != "ok" && fetched.detail.empty()) fetched.detail = fetched.result;
  outcome.result = fetched.result;
  outcome.detail = fetched.detail;
  if (outcome.result == "ok") {
    failures_[index] = 0;
    if (!logged_problem_[index].empty()) {
      log::LogEvent(log::Level::kInfo, kLogger, "federated bundle refreshed again",
                    {{"trust_domain", domain.trust_domain}});
      logged_problem_[index].clear();
    }
    if (outcome.changed) {
      log::LogEvent(log::Level::kInfo, kLogger, "federated bundle changed",
                    {{"trust_domain", domain.trust_domain}});
    }
  } else {
    // Results recorded before a bundle was offered (Offer records its own).
    if (outcome.result != "lower_sequence" && outcome.result != "sequence_reused" &&
        outcome.result != "wrong_trust_domain") {
      bundles_->RecordFailure(domain.trust_domain, outcome.result, outcome.detail, now);
    }
    ++failures_[index];
    // Once per change of problem, not once per retry.
    const std::string problem = outcome.result;
    if (problem != logged_problem_[index]) {
      log::LogEvent(log::Level::kWarn, kLogger,
                    "federated bundle refresh refused; the last good bundle stays",
                    {{"trust_domain", domain.trust_domain},
                     {"rule", outcome.result},
                     {"error", outcome.detail}});
      logged_problem_[index] = problem;
    }
  }
  on_outcome_(outcome);
  return outcome;
}

void BundleFetcher::Run() {
  std::vector<absl::Time> due(domains_.size(), absl::InfinitePast());
  for (;;) {
    size_t next = 0;
    {
      sync::MutexLock lock(&mu_);
      for (;;) {
        if (stopping_) return;
        next = static_cast<size_t>(std::min_element(due.begin(), due.end()) - due.begin());
        const absl::Duration left = due[next] - absl::Now();
        if (left <= absl::ZeroDuration()) break;
        mu_.AwaitWithTimeout([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping_; },
                             std::min(left, absl::Seconds(1)));
      }
    }
    FetchOnce(next);  // blocking, no lock held
    due[next] = absl::Now() + NextWait(options_, bundles_->RefreshHint(domains_[next].trust_domain),
                                       failures_[next]);
  }
}

}  // namespace palisade::control::federation
