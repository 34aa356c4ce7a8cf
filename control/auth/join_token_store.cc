#include "control/auth/join_token_store.h"

#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "control/auth/base64url.h"
#include "control/auth/refusal.h"
#include "control/state/state_files.h"
#include "identity/spiffe_id.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::auth {
namespace {

constexpr absl::string_view kJoinPrefix = "pjt";
constexpr absl::string_view kReattestationPrefix = "prt";
// Renewals slide re-attestation tokens' expiry; tokens.json is rewritten only
// when that moves an expiry by more than this (or a tenth of the lifetime).
constexpr absl::Duration kSlideGranularity = absl::Hours(24);

std::string Sha256Hex(absl::string_view data) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  RAND_bytes(reinterpret_cast<uint8_t*>(out.data()), n);
  return out;
}

int64_t ToUnix(absl::Time t) {
  if (t == absl::InfiniteFuture()) return 0;
  return absl::ToUnixSeconds(t);
}

absl::Time FromUnix(int64_t s) {
  return s == 0 ? absl::InfiniteFuture() : absl::FromUnixSeconds(s);
}

absl::string_view SecretPrefix(TokenKind kind) {
  return kind == TokenKind::kJoin ? kJoinPrefix : kReattestationPrefix;
}

// An UNAUTHENTICATED Refusal with reason "<kind>_token_<what>".
absl::Status Unauthenticated(TokenKind kind, absl::string_view what, absl::string_view detail) {
  const bool join = kind == TokenKind::kJoin;
  return Refusal(absl::StatusCode::kUnauthenticated,
                 absl::StrCat(join ? "join" : "reattestation", "_token_", what),
                 absl::StrCat(join ? "join token: " : "re-attestation token: ", detail));
}

// The id inside "pjt.<id>.<secret>" when it looks like one ("" otherwise),
// to read that one record from the store.
std::string IdOfSecret(absl::string_view token) {
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3 || parts[1].size() > 64) return "";
  for (char c : parts[1]) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return "";
  }
  return std::string(parts[1]);
}

}  // namespace

namespace internal {

nlohmann::json TokenToJson(const JoinToken& t) {
  nlohmann::json entry = {{"kind", TokenKindName(t.kind)},
                          {"id", t.id},
                          {"sha256", t.sha256},
                          {"spiffe_id", t.spiffe_id},
                          {"single_use", t.single_use},
                          {"created_at", absl::ToUnixSeconds(t.created_at)},
                          {"expires_at", ToUnix(t.expires_at)},
                          {"revoked", t.revoked},
                          {"uses", t.uses}};
  if (!t.parent_id.empty()) entry["parent_id"] = t.parent_id;
  return entry;
}

// What is wrong with entry `t`, as an error message, or the token.
absl::StatusOr<JoinToken> TokenFromJson(const nlohmann::json& t) {
  if (!t.is_object() || !t.contains("id") || !t["id"].is_string() || !t.contains("sha256") ||
      !t["sha256"].is_string() || !t.contains("spiffe_id") || !t["spiffe_id"].is_string()) {
    return absl::InvalidArgumentError("a token entry lacks id, sha256 or spiffe_id");
  }
  JoinToken token;
  try {
    const std::string kind = t.value("kind", std::string("join"));
    if (kind != "join" && kind != "reattestation") {
      return absl::InvalidArgumentError(
          absl::StrCat("a token entry has the unknown kind \"", kind, "\""));
    }
    token.kind = kind == "join" ? TokenKind::kJoin : TokenKind::kReattestation;
    token.id = t["id"].get<std::string>();
    token.sha256 = t["sha256"].get<std::string>();
    token.spiffe_id = t["spiffe_id"].get<std::string>();
    token.single_use = t.value("single_use", true);
    token.created_at = absl::FromUnixSeconds(t.value("created_at", int64_t{0}));
    token.expires_at = FromUnix(t.value("expires_at", int64_t{0}));
    token.revoked = t.value("revoked", false);
    token.uses = t.value("uses", uint64_t{0});
    token.parent_id = t.value("parent_id", std::string());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("a token entry has a field of the wrong type: ", e.what()));
  }
  return token;
}

absl::Status TokenUnauthenticated(TokenKind kind, absl::string_view what,
                                  absl::string_view detail) {
  return Unauthenticated(kind, what, detail);
}

}  // namespace internal

const char* TokenKindName(TokenKind kind) {
  return kind == TokenKind::kJoin ? "join" : "reattestation";
}

absl::StatusOr<std::unique_ptr<JoinTokenStore>> JoinTokenStore::Open(const std::string& path) {
  std::unique_ptr<JoinTokenStore> store(new JoinTokenStore(path));
  absl::StatusOr<std::string> text = state::ReadStateFile(path);
  if (absl::IsNotFound(text.status())) return store;
  if (!text.ok()) return text.status();
  auto corrupt = [&path](absl::string_view what) {
    return absl::FailedPreconditionError(
        absl::StrCat("state file ", path, ": ", what, "; refusing to start"));
  };
  nlohmann::json doc = nlohmann::json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("tokens") ||
      !doc["tokens"].is_array()) {
    return corrupt("not valid JSON with a \"tokens\" array (corrupt or truncated)");
  }
  sync::MutexLock lock(&store->mu_);
  for (const nlohmann::json& t : doc["tokens"]) {
    absl::StatusOr<JoinToken> token = internal::TokenFromJson(t);
    if (!token.ok()) return corrupt(token.status().message());
    store->tokens_[token->id] = *token;
  }
  return store;
}

absl::Status JoinTokenStore::Save() {
  if (shared_ != nullptr) return absl::OkStatus();  // each change went to the store
  nlohmann::json tokens = nlohmann::json::array();
  for (const auto& [id, t] : tokens_) tokens.push_back(internal::TokenToJson(t));
  return state::WriteFileAtomically(path_, nlohmann::json{{"tokens", tokens}}.dump(1) + "\n", 0600);
}

absl::StatusOr<JoinTokenStore::Created> JoinTokenStore::Add(TokenKind kind,
                                                            const identity::SpiffeId& id,
                                                            absl::Duration ttl, bool single_use,
                                                            const std::string& parent_id,
                                                            absl::Time now) {
  if (ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("ttl must not be negative");
  // No SVID could ever be issued for it, so the token would only mislead.
  RETURN_IF_ERROR(identity::ValidateWorkloadId(id));
  Created created;
  created.info.kind = kind;
  created.info.id = absl::StrCat(kind == TokenKind::kJoin ? "jt-" : "rt-",
                                 absl::BytesToHexString(RandomBytes(8)));
  created.token =
      absl::StrCat(SecretPrefix(kind), ".", created.info.id, ".", Base64UrlEncode(RandomBytes(32)));
  created.info.sha256 = Sha256Hex(created.token);
  created.info.spiffe_id = id.ToString();
  created.info.single_use = single_use;
  created.info.created_at = now;
  created.info.expires_at = ttl == absl::ZeroDuration() ? absl::InfiniteFuture() : now + ttl;
  created.info.parent_id = parent_id;
  if (shared_ != nullptr) {
    RETURN_IF_ERROR(SharedCreate(created.info));
    sync::MutexLock lock(&mu_);
    tokens_[created.info.id] = created.info;
    return created;
  }
  sync::MutexLock lock(&mu_);
  tokens_[created.info.id] = created.info;
  if (absl::Status s = Save(); !s.ok()) {
    tokens_.erase(created.info.id);
    return s;
  }
  return created;
}

absl::StatusOr<JoinTokenStore::Created> JoinTokenStore::Create(const identity::SpiffeId& id,
                                                               absl::Duration ttl, bool single_use,
                                                               absl::Time now) {
  return Add(TokenKind::kJoin, id, ttl, single_use, "", now);
}

absl::StatusOr<JoinTokenStore::Created> JoinTokenStore::CreateReattestation(
    const identity::SpiffeId& id, const std::string& parent_id, absl::Duration ttl,
    absl::Time now) {
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("a re-attestation token's lifetime must be positive");
  }
  return Add(TokenKind::kReattestation, id, ttl, /*single_use=*/false, parent_id, now);
}

const JoinToken* JoinTokenStore::Find(absl::string_view token, TokenKind kind) const {
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3 || parts[0] != SecretPrefix(kind)) return nullptr;
  auto it = tokens_.find(std::string(parts[1]));
  if (it == tokens_.end() || it->second.kind != kind) return nullptr;
  const std::string hash = Sha256Hex(token);
  if (hash.size() != it->second.sha256.size() ||
      CRYPTO_memcmp(hash.data(), it->second.sha256.data(), hash.size()) != 0) {
    return nullptr;
  }
  return &it->second;
}

absl::Status JoinTokenStore::Unusable(const JoinToken& t, absl::Time now) {
  if (t.revoked) return Unauthenticated(t.kind, "revoked", absl::StrCat(t.id, " was revoked"));
  if (now >= t.expires_at) {
    return Unauthenticated(t.kind, "expired", absl::StrCat(t.id, " has expired"));
  }
  if (t.single_use && t.uses > 0) {
    return Unauthenticated(t.kind, "used",
                           absl::StrCat(t.id, " is single-use and was already used"));
  }
  return absl::OkStatus();
}

absl::StatusOr<JoinToken> JoinTokenStore::Authenticate(absl::string_view token,
                                                       absl::Time now) const {
  if (shared_ != nullptr) RETURN_IF_ERROR(SharedRefresh(IdOfSecret(token)));
  sync::MutexLock lock(&mu_);
  const JoinToken* t = Find(token, TokenKind::kJoin);
  if (t == nullptr) return Unauthenticated(TokenKind::kJoin, "unknown", "unknown token");
  RETURN_IF_ERROR(Unusable(*t, now));
  return *t;
}

absl::StatusOr<JoinToken> JoinTokenStore::AuthenticateReattestation(absl::string_view token,
                                                                    absl::Time now) const {
  if (shared_ != nullptr) RETURN_IF_ERROR(SharedRefresh(IdOfSecret(token)));
  sync::MutexLock lock(&mu_);
  const JoinToken* t = Find(token, TokenKind::kReattestation);
  if (t == nullptr) return Unauthenticated(TokenKind::kReattestation, "unknown", "unknown token");
  RETURN_IF_ERROR(Unusable(*t, now));
  return *t;
}

absl::Status JoinTokenStore::Spend(const std::string& id, absl::Time now) {
  if (shared_ != nullptr) {
    return SharedUpdate(id,
                        [&](JoinToken& t) -> absl::StatusOr<bool> {
                          if (t.kind != TokenKind::kJoin) {
                            return Unauthenticated(TokenKind::kJoin, "unknown", "unknown token");
                          }
                          RETURN_IF_ERROR(Unusable(t, now));
                          ++t.uses;
                          return true;
                        })
        .status();
  }
  sync::MutexLock lock(&mu_);
  auto it = tokens_.find(id);
  if (it == tokens_.end() || it->second.kind != TokenKind::kJoin) {
    return Unauthenticated(TokenKind::kJoin, "unknown", "unknown token");
  }
  JoinToken& t = it->second;
  RETURN_IF_ERROR(Unusable(t, now));
  ++t.uses;
  if (absl::Status s = Save(); !s.ok()) {
    --t.uses;
    return s;
  }
  return absl::OkStatus();
}

absl::Status JoinTokenStore::UseReattestation(const std::string& id, absl::Time now,
                                              absl::Duration ttl) {
  if (shared_ != nullptr) {
    return SharedUpdate(id,
                        [&](JoinToken& t) -> absl::StatusOr<bool> {
                          if (t.kind != TokenKind::kReattestation) {
                            return Unauthenticated(TokenKind::kReattestation, "unknown",
                                                   "unknown token");
                          }
                          RETURN_IF_ERROR(Unusable(t, now));
                          ++t.uses;
                          t.expires_at = std::max(t.expires_at, now + ttl);
                          return true;
                        })
        .status();
  }
  sync::MutexLock lock(&mu_);
  auto it = tokens_.find(id);
  if (it == tokens_.end() || it->second.kind != TokenKind::kReattestation) {
    return Unauthenticated(TokenKind::kReattestation, "unknown", "unknown token");
  }
  JoinToken& t = it->second;
  RETURN_IF_ERROR(Unusable(t, now));
  const JoinToken before = t;
  ++t.uses;
  t.expires_at = std::max(t.expires_at, now + ttl);
  if (absl::Status s = Save(); !s.ok()) {
    t = before;
    return s;
  }
  return absl::OkStatus();
}

absl::Status JoinTokenStore::SlideReattestation(const std::string& spiffe_id, absl::Time now,
                                                absl::Duration ttl) {
  const absl::Duration granularity = std::min(kSlideGranularity, ttl / 10);
  if (shared_ != nullptr) {
    // Candidates from memory (the watcher keeps it current), each changed in
    // the store; a renewal does not wait on the store otherwise.
    std::vector<std::string> due;
    {
      sync::MutexLock lock(&mu_);
      for (const auto& [id, t] : tokens_) {
        if (t.kind == TokenKind::kReattestation && t.spiffe_id == spiffe_id && !t.revoked &&
            now < t.expires_at && now + ttl - t.expires_at > granularity) {
          due.push_back(id);
        }
      }
    }
    for (const std::string& id : due) {
      RETURN_IF_ERROR(SharedUpdate(id, [&](JoinToken& t) -> absl::StatusOr<bool> {
                        if (t.revoked || now >= t.expires_at) return false;
                        t.expires_at = std::max(t.expires_at, now + ttl);
                        return true;
                      }).status());
    }
    return absl::OkStatus();
  }
  sync::MutexLock lock(&mu_);
  std::map<std::string, absl::Time> before;  // by id, to undo a failed write
  for (auto& [id, t] : tokens_) {
    if (t.kind != TokenKind::kReattestation || t.spiffe_id != spiffe_id || t.revoked ||
        now >= t.expires_at || now + ttl - t.expires_at <= granularity) {
      continue;
    }
    before[id] = t.expires_at;
    t.expires_at = now + ttl;
  }
  if (before.empty()) return absl::OkStatus();
  absl::Status saved = Save();
  if (!saved.ok()) {
    for (const auto& [id, expires_at] : before) tokens_[id].expires_at = expires_at;
  }
  return saved;
}

absl::StatusOr<size_t> JoinTokenStore::PruneExpired(absl::Time now, absl::Duration retention) {
  if (shared_ != nullptr) return SharedPruneExpired(now, retention);
  sync::MutexLock lock(&mu_);
  auto gone = [&](const JoinToken& t) {
    return t.expires_at != absl::InfiniteFuture() && t.expires_at + retention <= now;
  };
  std::map<std::string, JoinToken> kept;
  for (const auto& [id, t] : tokens_) {
    if (t.kind == TokenKind::kReattestation && gone(t)) continue;
    kept.emplace(id, t);
  }
  std::set<std::string> parents;
  for (const auto& [id, t] : kept) {
    if (!t.parent_id.empty()) parents.insert(t.parent_id);
  }
  for (auto it = kept.begin(); it != kept.end();) {
    const JoinToken& t = it->second;
    const bool forget = t.kind == TokenKind::kJoin && gone(t) && parents.count(t.id) == 0;
    it = forget ? kept.erase(it) : std::next(it);
  }
  const size_t pruned = tokens_.size() - kept.size();
  if (pruned == 0) return 0;
  kept.swap(tokens_);
  if (absl::Status saved = Save(); !saved.ok()) {
    kept.swap(tokens_);  // the file still holds them; so does memory
    return saved;
  }
  return pruned;
}

absl::StatusOr<JoinToken> JoinTokenStore::Revoke(absl::string_view id_or_token) {
  if (shared_ != nullptr) {
    RETURN_IF_ERROR(SharedRefreshAll());
    std::vector<std::string> revoking;
    std::string found;
    {
      sync::MutexLock lock(&mu_);
      const JoinToken* t = nullptr;
      if (auto it = tokens_.find(std::string(id_or_token)); it != tokens_.end()) t = &it->second;
      for (TokenKind kind : {TokenKind::kJoin, TokenKind::kReattestation}) {
        if (t == nullptr) t = Find(id_or_token, kind);
      }
      if (t == nullptr) return absl::NotFoundError("no such join or re-attestation token");
      found = t->id;
      revoking.push_back(t->id);
      if (t->kind == TokenKind::kJoin) {
        for (const auto& [id, child] : tokens_) {
          if (child.parent_id == t->id) revoking.push_back(id);
        }
      }
    }
    JoinToken answer;
    for (const std::string& id : revoking) {
      ASSIGN_OR_RETURN(JoinToken t, SharedUpdate(id, [](JoinToken& t) -> absl::StatusOr<bool> {
                         if (t.revoked) return false;
                         t.revoked = true;
                         return true;
                       }));
      if (id == found) answer = t;
    }
    return answer;
  }
  sync::MutexLock lock(&mu_);
  JoinToken* t = nullptr;
  if (auto it = tokens_.find(std::string(id_or_token)); it != tokens_.end()) t = &it->second;
  for (TokenKind kind : {TokenKind::kJoin, TokenKind::kReattestation}) {
    if (t == nullptr) t = const_cast<JoinToken*>(Find(id_or_token, kind));
  }
  if (t == nullptr) return absl::NotFoundError("no such join or re-attestation token");
  std::vector<JoinToken*> revoking;
  if (!t->revoked) revoking.push_back(t);
  if (t->kind == TokenKind::kJoin) {
    for (auto& [id, child] : tokens_) {
      if (child.parent_id == t->id && !child.revoked) revoking.push_back(&child);
    }
  }
  if (revoking.empty()) return *t;
  for (JoinToken* r : revoking) r->revoked = true;
  if (absl::Status s = Save(); !s.ok()) {
    for (JoinToken* r : revoking) r->revoked = false;
    return s;
  }
  return *t;
}

std::vector<std::string> JoinTokenStore::DescendantsOf(const std::string& id) const {
  sync::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [child_id, child] : tokens_) {
    if (child.parent_id == id) out.push_back(child_id);
  }
  return out;
}

bool JoinTokenStore::IsRevoked(const std::string& id) const {
  sync::MutexLock lock(&mu_);
  auto it = tokens_.find(id);
  return it != tokens_.end() && it->second.revoked;
}

std::vector<JoinToken> JoinTokenStore::List() const {
  if (shared_ != nullptr) (void)SharedRefreshAll();  // else: what memory holds
  sync::MutexLock lock(&mu_);
  std::vector<JoinToken> out;
  for (const auto& [id, t] : tokens_) out.push_back(t);
  return out;
}

}  // namespace palisade::control::auth
