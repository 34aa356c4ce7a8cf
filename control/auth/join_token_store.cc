#include "control/auth/join_token_store.h"

#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "control/auth/base64url.h"
#include "control/auth/refusal.h"
#include "control/state/state_files.h"

namespace palisade::control::auth {
namespace {

constexpr absl::string_view kPrefix = "pjt";

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

absl::Status Unauthenticated(absl::string_view reason, absl::string_view detail) {
  return Refusal(absl::StatusCode::kUnauthenticated, reason, absl::StrCat("join token: ", detail));
}

}  // namespace

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
  try {
    for (const nlohmann::json& t : doc["tokens"]) {
      if (!t.is_object() || !t.contains("id") || !t["id"].is_string() || !t.contains("sha256") ||
          !t["sha256"].is_string() || !t.contains("spiffe_id") || !t["spiffe_id"].is_string()) {
        return corrupt("a token entry lacks id, sha256 or spiffe_id");
      }
      JoinToken token;
      token.id = t["id"].get<std::string>();
      token.sha256 = t["sha256"].get<std::string>();
      token.spiffe_id = t["spiffe_id"].get<std::string>();
      token.single_use = t.value("single_use", true);
      token.created_at = absl::FromUnixSeconds(t.value("created_at", int64_t{0}));
      token.expires_at = FromUnix(t.value("expires_at", int64_t{0}));
      token.revoked = t.value("revoked", false);
      token.uses = t.value("uses", uint64_t{0});
      store->tokens_[token.id] = token;
    }
  } catch (const nlohmann::json::exception& e) {
    return corrupt(absl::StrCat("a token entry has a field of the wrong type: ", e.what()));
  }
  return store;
}

absl::Status JoinTokenStore::Save() {
  nlohmann::json tokens = nlohmann::json::array();
  for (const auto& [id, t] : tokens_) {
    tokens.push_back({{"id", t.id},
                      {"sha256", t.sha256},
                      {"spiffe_id", t.spiffe_id},
                      {"single_use", t.single_use},
                      {"created_at", absl::ToUnixSeconds(t.created_at)},
                      {"expires_at", ToUnix(t.expires_at)},
                      {"revoked", t.revoked},
                      {"uses", t.uses}});
  }
  return state::WriteFileAtomically(path_, nlohmann::json{{"tokens", tokens}}.dump(1) + "\n", 0600);
}

absl::StatusOr<JoinTokenStore::Created> JoinTokenStore::Create(const identity::SpiffeId& id,
                                                               absl::Duration ttl, bool single_use,
                                                               absl::Time now) {
  if (ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("ttl must not be negative");
  Created created;
  created.info.id = absl::StrCat("jt-", absl::BytesToHexString(RandomBytes(8)));
  created.token =
      absl::StrCat(kPrefix, ".", created.info.id, ".", Base64UrlEncode(RandomBytes(32)));
  created.info.sha256 = Sha256Hex(created.token);
  created.info.spiffe_id = id.ToString();
  created.info.single_use = single_use;
  created.info.created_at = now;
  created.info.expires_at = ttl == absl::ZeroDuration() ? absl::InfiniteFuture() : now + ttl;
  sync::MutexLock lock(&mu_);
  tokens_[created.info.id] = created.info;
  if (absl::Status s = Save(); !s.ok()) {
    tokens_.erase(created.info.id);
    return s;
  }
  return created;
}

const JoinToken* JoinTokenStore::Find(absl::string_view token) const {
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3 || parts[0] != kPrefix) return nullptr;
  auto it = tokens_.find(std::string(parts[1]));
  if (it == tokens_.end()) return nullptr;
  const std::string hash = Sha256Hex(token);
  if (hash.size() != it->second.sha256.size() ||
      CRYPTO_memcmp(hash.data(), it->second.sha256.data(), hash.size()) != 0) {
    return nullptr;
  }
  return &it->second;
}

absl::StatusOr<JoinToken> JoinTokenStore::Authenticate(absl::string_view token,
                                                       absl::Time now) const {
  sync::MutexLock lock(&mu_);
  const JoinToken* t = Find(token);
  if (t == nullptr) return Unauthenticated("join_token_unknown", "unknown token");
  if (t->revoked) return Unauthenticated("join_token_revoked", absl::StrCat(t->id, " was revoked"));
  if (now >= t->expires_at) {
    return Unauthenticated("join_token_expired", absl::StrCat(t->id, " has expired"));
  }
  if (t->single_use && t->uses > 0) {
    return Unauthenticated("join_token_used",
                           absl::StrCat(t->id, " is single-use and was already used"));
  }
  return *t;
}

absl::Status JoinTokenStore::Spend(const std::string& id, absl::Time now) {
  sync::MutexLock lock(&mu_);
  auto it = tokens_.find(id);
  if (it == tokens_.end()) return Unauthenticated("join_token_unknown", "unknown token");
  JoinToken& t = it->second;
  if (t.revoked) return Unauthenticated("join_token_revoked", absl::StrCat(id, " was revoked"));
  if (now >= t.expires_at) {
    return Unauthenticated("join_token_expired", absl::StrCat(id, " has expired"));
  }
  if (t.single_use && t.uses > 0) {
    return Unauthenticated("join_token_used",
                           absl::StrCat(id, " is single-use and was already used"));
  }
  ++t.uses;
  if (absl::Status s = Save(); !s.ok()) {
    --t.uses;
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<JoinToken> JoinTokenStore::Revoke(absl::string_view id_or_token) {
  sync::MutexLock lock(&mu_);
  JoinToken* t = nullptr;
  if (auto it = tokens_.find(std::string(id_or_token)); it != tokens_.end()) t = &it->second;
  if (t == nullptr) t = const_cast<JoinToken*>(Find(id_or_token));
  if (t == nullptr) return absl::NotFoundError("no such join token");
  if (t->revoked) return *t;
  t->revoked = true;
  if (absl::Status s = Save(); !s.ok()) {
    t->revoked = false;
    return s;
  }
  return *t;
}

bool JoinTokenStore::IsRevoked(const std::string& id) const {
  sync::MutexLock lock(&mu_);
  auto it = tokens_.find(id);
  return it != tokens_.end() && it->second.revoked;
}

std::vector<JoinToken> JoinTokenStore::List() const {
  sync::MutexLock lock(&mu_);
  std::vector<JoinToken> out;
  for (const auto& [id, t] : tokens_) out.push_back(t);
  return out;
}

}  // namespace palisade::control::auth
