// Join tokens: bootstrap credentials for hosts without Kubernetes, each made
// for one SPIFFE ID, optionally single-use and expiring, revocable; and the
// re-attestation tokens issued with a join token's SVID, which let that proxy
// obtain an SVID again after it lost its own (multi-use, expiring long after
// their last use, revoked with the join token they descend from). Only a
// SHA-256 of each token is kept, in <state_dir>/tokens.json (0600), or with
// replicas in the shared store (join_token_shared.cc).
#ifndef PALISADE_CONTROL_AUTH_JOIN_TOKEN_STORE_H_
#define PALISADE_CONTROL_AUTH_JOIN_TOKEN_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "control/state/shared_store.h"
#include "identity/spiffe_id.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::auth {

enum class TokenKind { kJoin, kReattestation };

// "join" or "reattestation", as in tokens.json and the admin API.
const char* TokenKindName(TokenKind kind);

struct JoinToken {
  TokenKind kind = TokenKind::kJoin;
  // Public handle, printed and revoked by: "jt-" (join) or "rt-"
  // (re-attestation) + 16 hex digits.
  std::string id;
  std::string sha256;  // of the whole token, lowercase hex
  std::string spiffe_id;
  bool single_use = true;  // re-attestation tokens: false
  absl::Time created_at;
  absl::Time expires_at = absl::InfiniteFuture();
  bool revoked = false;
  uint64_t uses = 0;      // SVIDs issued with it
  std::string parent_id;  // re-attestation tokens: the join token it descends from
};

// Thread-safe. Every change is written to disk (or to the shared store)
// before it returns.
class JoinTokenStore {
 public:
  // Loads `path` (missing = no tokens). A corrupt file is refused, naming it.
  static absl::StatusOr<std::unique_ptr<JoinTokenStore>> Open(const std::string& path);
  // Replicas: every token is a record "tokens/<id>" in `store` (which must
  // outlive this). What decides a bootstrap (Authenticate, Spend, Revoke) reads
  // the record fresh and changes it by compare-and-swap, so a single-use
  // token is spent once across replicas; with the store unreachable those are
  // refused UNAVAILABLE, reason store_unavailable. What renewals read
  // (IsRevoked) comes from memory, which ReplaceFromStore keeps current.
  static std::unique_ptr<JoinTokenStore> OpenShared(state::SharedStore* store);
  // The watcher's view of every token record: replaces memory. Records that
  // do not parse are left out and returned as errors (naming their keys).
  std::vector<absl::Status> ReplaceFromStore(const std::vector<state::StoredRecord>& records);

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

  // Re-attestation tokens. `ttl` is the sliding lifetime (--reattestation_ttl):
  // a token expires `ttl` after its last use or after the last SVID issued to
  // its identity, whichever is later.
  //
  // A new one for `id`, descending from join token `parent_id`: the secret
  // is "prt.<rt-id>.<43 base64url chars>".
  absl::StatusOr<Created> CreateReattestation(const identity::SpiffeId& id,
                                              const std::string& parent_id, absl::Duration ttl,
                                              absl::Time now);
  // The token's record, or an UNAUTHENTICATED Refusal:
  // reattestation_token_unknown, reattestation_token_expired,
  // reattestation_token_revoked. A join token is unknown here, and a
  // re-attestation token is unknown to Authenticate.
  absl::StatusOr<JoinToken> AuthenticateReattestation(absl::string_view token,
                                                      absl::Time now) const;
  // Records an SVID issued with re-attestation token `id` (refused as
  // AuthenticateReattestation refuses if it was revoked or expired since) and
  // slides its expiry.
  absl::Status UseReattestation(const std::string& id, absl::Time now, absl::Duration ttl);
  // An SVID was issued to `spiffe_id`: slides the expiry of its live
  // re-attestation tokens to now + ttl. tokens.json is rewritten only when
  // that moves an expiry by more than a day (or ttl/10, if shorter), so
  // renewals do not rewrite it every time.
  absl::Status SlideReattestation(const std::string& spiffe_id, absl::Time now, absl::Duration ttl);

  // By id or by the token itself, of either kind. Revoking a join token also
  // revokes the re-attestation tokens descending from it. NotFound if unknown.
  absl::StatusOr<JoinToken> Revoke(absl::string_view id_or_token);
  // The ids of the re-attestation tokens descending from join token `id`.
  std::vector<std::string> DescendantsOf(const std::string& id) const;
  bool IsRevoked(const std::string& id) const;
  // Forgets tokens that expired more than `retention` before `now` (a
  // forgotten token is refused as unknown instead of expired), so that
  // re-attestation tokens, one per bootstrap, do not pile up in tokens.json.
  // A join token stays while a token descending from it does: revoking it
  // must still reach them. Returns how many were forgotten. Shared mode:
  // each record is deleted only if unchanged since it was read (its mod
  // revision), so replicas pruning at once never delete what another just
  // wrote; a record that cannot be read is left alone.
  absl::StatusOr<size_t> PruneExpired(absl::Time now, absl::Duration retention);
  std::vector<JoinToken> List() const;

 private:
  explicit JoinTokenStore(std::string path, state::SharedStore* shared = nullptr)
      : path_(std::move(path)), shared_(shared) {}
  // Shared mode (join_token_shared.cc).
  struct Versioned {
    JoinToken token;
    int64_t revision = 0;
  };
  absl::StatusOr<std::optional<Versioned>> SharedGet(const std::string& id) const;
  // Reads token `id`, applies `change` (an error aborts; false: nothing to
  // write) and writes it if no one changed it meanwhile, else again.
  absl::StatusOr<JoinToken> SharedUpdate(
      const std::string& id, const std::function<absl::StatusOr<bool>(JoinToken&)>& change);
  absl::Status SharedCreate(const JoinToken& token);
  absl::Status SharedRefresh(const std::string& id) const;
  absl::Status SharedRefreshAll() const;
  absl::StatusOr<size_t> SharedPruneExpired(absl::Time now, absl::Duration retention);
  absl::Status Save() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Created> Add(TokenKind kind, const identity::SpiffeId& id, absl::Duration ttl,
                              bool single_use, const std::string& parent_id, absl::Time now);
  // The record of `token` if it is of `kind` and its hash matches.
  const JoinToken* Find(absl::string_view token, TokenKind kind) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why `t` cannot issue an SVID now, or OK.
  static absl::Status Unusable(const JoinToken& t, absl::Time now);

  const std::string path_;
  state::SharedStore* const shared_;  // null: the file at path_
  mutable sync::Mutex mu_;
  // By id. Shared mode: a cache of the store, refreshed where it decides.
  mutable std::map<std::string, JoinToken> tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::control::auth

#endif  // PALISADE_CONTROL_AUTH_JOIN_TOKEN_STORE_H_
