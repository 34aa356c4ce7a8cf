// Join tokens: bootstrap credentials for hosts without Kubernetes, each made
// for one SPIFFE ID, optionally single-use and expiring, revocable. Only a
// SHA-256 of each token is kept, in <state_dir>/tokens.json (0600).
#ifndef PALISADE_CONTROL_AUTH_JOIN_TOKEN_STORE_H_
#define PALISADE_CONTROL_AUTH_JOIN_TOKEN_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "identity/spiffe_id.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::auth {

struct JoinToken {
  std::string id;      // public handle: "jt-" + 16 hex digits; printed, revoked by
  std::string sha256;  // of the whole token, lowercase hex
  std::string spiffe_id;
  bool single_use = true;
  absl::Time created_at;
  absl::Time expires_at = absl::InfiniteFuture();
  bool revoked = false;
  uint64_t uses = 0;  // SVIDs issued with it
};

// Thread-safe. Every change is written to disk before it returns.
class JoinTokenStore {
 public:
  // Loads `path` (missing = no tokens). A corrupt file is refused, naming it.
  static absl::StatusOr<std::unique_ptr<JoinTokenStore>> Open(const std::string& path);

  struct Created {
    std::string token;  // the secret, shown once: "pjt.<id>.<43 base64url chars>"
    JoinToken info;
  };
  // `ttl` zero = never expires.
  absl::StatusOr<Created> Create(const identity::SpiffeId& id, absl::Duration ttl, bool single_use,
                                 absl::Time now);

  // The token's record, or an UNAUTHENTICATED Refusal: join_token_unknown,
  // join_token_expired, join_token_revoked, join_token_used.
  absl::StatusOr<JoinToken> Authenticate(absl::string_view token, absl::Time now) const;
  // Records an SVID issued with token `id`, atomically with the single-use
  // check: the second spend of a single-use token is join_token_used.
  absl::Status Spend(const std::string& id, absl::Time now);
  // By id or by the token itself. NotFound if unknown.
  absl::StatusOr<JoinToken> Revoke(absl::string_view id_or_token);
  bool IsRevoked(const std::string& id) const;
  std::vector<JoinToken> List() const;

 private:
  explicit JoinTokenStore(std::string path) : path_(std::move(path)) {}
  absl::Status Save() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const JoinToken* Find(absl::string_view token) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  mutable sync::Mutex mu_;
  std::map<std::string, JoinToken> tokens_ ABSL_GUARDED_BY(mu_);  // by id
};

}  // namespace palisade::control::auth

#endif  // PALISADE_CONTROL_AUTH_JOIN_TOKEN_STORE_H_
