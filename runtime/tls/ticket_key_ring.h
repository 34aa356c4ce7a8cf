// Session-ticket keys shared by every server SSL_CTX built for one trust
// bundle: a current key that encrypts new tickets and the previous one that
// still decrypts (and renews) older tickets; they rotate on a schedule.
#ifndef PALISADE_RUNTIME_TLS_TICKET_KEY_RING_H_
#define PALISADE_RUNTIME_TLS_TICKET_KEY_RING_H_

#include <openssl/ssl.h>

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/sync/mutex.h"

namespace palisade::tls {

// Thread-safe: every worker's handshakes use it.
class TicketKeyRing {
 public:
  using Clock = std::function<absl::Time()>;
  explicit TicketKeyRing(
      absl::Duration rotation, Clock clock = [] { return absl::Now(); });

  // Installs the ring as `ctx`'s ticket key callback. The ring must outlive ctx.
  void InstallOn(SSL_CTX* ctx);

  // OpenSSL/BoringSSL ticket key callback semantics: 1 = use, 2 = use and
  // issue a fresh ticket (key is the previous one), 0 = unknown key, -1 = error.
  int OnTicket(uint8_t* key_name, uint8_t* iv, EVP_CIPHER_CTX* cipher, HMAC_CTX* hmac, int encrypt);

  absl::Duration rotation() const { return rotation_; }

 private:
  struct Key {
    uint8_t name[16];
    uint8_t aes_key[16];
    uint8_t hmac_key[32];
    absl::Time created;
  };
  static Key NewKey(absl::Time now);
  void RotateIfDue() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const absl::Duration rotation_;
  const Clock clock_;
  sync::Mutex mutex_;
  Key current_ ABSL_GUARDED_BY(mutex_);
  Key previous_ ABSL_GUARDED_BY(mutex_);
  bool has_previous_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_TICKET_KEY_RING_H_
