// JoinTokenStore's shared mode: each token a record "tokens/<id>" in the
// SharedStore, changed only by compare-and-swap on its revision.
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control/auth/join_token_store.h"
#include "control/auth/refusal.h"
#include "control/state/shared_record.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::auth {
namespace internal {
nlohmann::json TokenToJson(const JoinToken& t);
absl::StatusOr<JoinToken> TokenFromJson(const nlohmann::json& t);
absl::Status TokenUnauthenticated(TokenKind kind, absl::string_view what, absl::string_view detail);
}  // namespace internal

namespace {

constexpr char kKind[] = "join_token";
constexpr char kDir[] = "tokens/";
// Compare-and-swap attempts before giving up on a record others keep changing.
constexpr int kAttempts = 8;

// The store's UNAVAILABLE as a refusal with its reason, for audit and metrics.
absl::Status AsRefusal(absl::Status s) {
  if (absl::IsUnavailable(s)) {
    return Refusal(absl::StatusCode::kUnavailable, "store_unavailable", s.message());
  }
  return s;
}

absl::StatusOr<JoinToken> Decode(const state::StoredRecord& record) {
  ASSIGN_OR_RETURN(nlohmann::json doc, state::DecodeSharedRecord(record.key, record.value, kKind));
  absl::StatusOr<JoinToken> token = internal::TokenFromJson(doc);
  if (!token.ok()) return state::MalformedRecord(record.key, token.status().message());
  const std::string expected_suffix = absl::StrCat(kDir, token->id);
  if (record.key.size() < expected_suffix.size() ||
      record.key.compare(record.key.size() - expected_suffix.size(), expected_suffix.size(),
                         expected_suffix) != 0) {
    return state::MalformedRecord(record.key, absl::StrCat("holds token ", token->id));
  }
  return token;
}

}  // namespace

std::unique_ptr<JoinTokenStore> JoinTokenStore::OpenShared(state::SharedStore* store) {
  return std::unique_ptr<JoinTokenStore>(new JoinTokenStore("", store));
}

absl::StatusOr<std::optional<JoinTokenStore::Versioned>> JoinTokenStore::SharedGet(
    const std::string& id) const {
  absl::StatusOr<std::optional<state::StoredRecord>> record = shared_->Get(kDir + id);
  if (!record.ok()) return AsRefusal(record.status());
  if (!record->has_value()) return std::optional<Versioned>();
  ASSIGN_OR_RETURN(JoinToken token, Decode(**record));
  return std::optional<Versioned>(Versioned{std::move(token), (*record)->revision});
}

absl::Status JoinTokenStore::SharedRefresh(const std::string& id) const {
  if (id.empty()) return absl::OkStatus();  // not a token's shape: unknown anyway
  ASSIGN_OR_RETURN(std::optional<Versioned> got, SharedGet(id));
  sync::MutexLock lock(&mu_);
  if (got.has_value()) {
    tokens_[id] = got->token;
  } else {
    tokens_.erase(id);
  }
  return absl::OkStatus();
}

absl::Status JoinTokenStore::SharedRefreshAll() const {
  int64_t revision = 0;
  absl::StatusOr<std::vector<state::StoredRecord>> records = shared_->List(kDir, &revision);
  if (!records.ok()) return AsRefusal(records.status());
  std::map<std::string, JoinToken> loaded;
  for (const state::StoredRecord& r : *records) {
    ASSIGN_OR_RETURN(JoinToken token, Decode(r));
    loaded[token.id] = std::move(token);
  }
  sync::MutexLock lock(&mu_);
  tokens_.swap(loaded);
  return absl::OkStatus();
}

std::vector<absl::Status> JoinTokenStore::ReplaceFromStore(
    const std::vector<state::StoredRecord>& records) {
  std::vector<absl::Status> errors;
  std::map<std::string, JoinToken> loaded;
  for (const state::StoredRecord& r : records) {
    absl::StatusOr<JoinToken> token = Decode(r);
    if (!token.ok()) {
      errors.push_back(token.status());
      continue;
    }
    loaded[token->id] = *std::move(token);
  }
  sync::MutexLock lock(&mu_);
  tokens_.swap(loaded);
  return errors;
}

absl::Status JoinTokenStore::SharedCreate(const JoinToken& token) {
  absl::StatusOr<bool> written = shared_->PutIf(
      kDir + token.id, state::EncodeSharedRecord(kKind, internal::TokenToJson(token)), 0, nullptr);
  if (!written.ok()) return AsRefusal(written.status());
  if (!*written) {
    return absl::AlreadyExistsError(
        absl::StrCat("store record \"", shared_->FullKey(kDir + token.id), "\" already exists"));
  }
  return absl::OkStatus();
}

absl::StatusOr<JoinToken> JoinTokenStore::SharedUpdate(
    const std::string& id, const std::function<absl::StatusOr<bool>(JoinToken&)>& change) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<Versioned> got, SharedGet(id));
    if (!got.has_value()) {
      {
        sync::MutexLock lock(&mu_);
        tokens_.erase(id);
      }
      return internal::TokenUnauthenticated(
          id.rfind("rt-", 0) == 0 ? TokenKind::kReattestation : TokenKind::kJoin, "unknown",
          "unknown token");
    }
    JoinToken token = got->token;
    absl::StatusOr<bool> changed = change(token);
    if (!changed.ok() || !*changed) {
      sync::MutexLock lock(&mu_);
      tokens_[id] = got->token;
      if (!changed.ok()) return changed.status();
      return got->token;
    }
    absl::StatusOr<bool> written =
        shared_->PutIf(kDir + id, state::EncodeSharedRecord(kKind, internal::TokenToJson(token)),
                       got->revision, nullptr);
    if (!written.ok()) return AsRefusal(written.status());
    if (*written) {
      sync::MutexLock lock(&mu_);
      tokens_[id] = token;
      return token;
    }
    // Another replica changed it first: decide again on what it wrote.
  }
  return absl::AbortedError(
      absl::StrCat("store record \"", shared_->FullKey(kDir + id), "\" kept changing; try again"));
}

absl::StatusOr<size_t> JoinTokenStore::SharedPruneExpired(absl::Time now,
                                                          absl::Duration retention) {
  int64_t revision = 0;
  absl::StatusOr<std::vector<state::StoredRecord>> records = shared_->List(kDir, &revision);
  if (!records.ok()) return AsRefusal(records.status());
  struct Read {
    std::string key;  // relative to the store's prefix
    int64_t revision;
    JoinToken token;
  };
  std::vector<Read> readable;
  std::set<std::string> parents;  // of every readable token, gone or not
  for (const state::StoredRecord& r : *records) {
    absl::StatusOr<JoinToken> token = Decode(r);
    // Malformed records are reported by the watcher; never deleted here.
    if (!token.ok()) continue;
    if (!token->parent_id.empty()) parents.insert(token->parent_id);
    readable.push_back(Read{kDir + token->id, r.revision, *std::move(token)});
  }
  auto gone = [&](const JoinToken& t) {
    return t.expires_at != absl::InfiniteFuture() && t.expires_at + retention <= now;
  };
  // As in the file store: a join token stays while a token descending from
  // it does (revoking it must still reach them), even an expired one.
  size_t pruned = 0;
  for (const Read& r : readable) {
    if (!gone(r.token)) continue;
    if (r.token.kind == TokenKind::kJoin && parents.count(r.token.id) > 0) continue;
    absl::StatusOr<bool> deleted = shared_->DeleteIf(r.key, r.revision);
    if (!deleted.ok()) return AsRefusal(deleted.status());
    // false: another replica changed or deleted it since; its next prune decides.
    if (!*deleted) continue;
    ++pruned;
    sync::MutexLock lock(&mu_);
    tokens_.erase(r.token.id);
  }
  return pruned;
}

}  // namespace palisade::control::auth
