#include "runtime/tls/ticket_key_ring.h"

#include <openssl/cipher.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

namespace palisade::tls {
namespace {

int ExDataIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int TicketCallback(SSL* ssl, uint8_t* key_name, uint8_t* iv, EVP_CIPHER_CTX* cipher, HMAC_CTX* hmac,
                   int encrypt) {
  auto* ring =
      static_cast<TicketKeyRing*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ExDataIndex()));
  if (ring == nullptr) return -1;
  return ring->OnTicket(key_name, iv, cipher, hmac, encrypt);
}

}  // namespace

TicketKeyRing::TicketKeyRing(absl::Duration rotation, Clock clock)
    : rotation_(rotation), clock_(std::move(clock)), current_(NewKey(clock_())) {}

TicketKeyRing::Key TicketKeyRing::NewKey(absl::Time now) {
  Key key;
  RAND_bytes(key.name, sizeof(key.name));
  RAND_bytes(key.aes_key, sizeof(key.aes_key));
  RAND_bytes(key.hmac_key, sizeof(key.hmac_key));
  key.created = now;
  return key;
}

void TicketKeyRing::InstallOn(SSL_CTX* ctx) {
  SSL_CTX_set_ex_data(ctx, ExDataIndex(), this);
  SSL_CTX_set_tlsext_ticket_key_cb(ctx, &TicketCallback);
}

void TicketKeyRing::RotateIfDue() {
  const absl::Time now = clock_();
  if (now - current_.created < rotation_) return;
  previous_ = current_;
  has_previous_ = true;
  current_ = NewKey(now);
}

int TicketKeyRing::OnTicket(uint8_t* key_name, uint8_t* iv, EVP_CIPHER_CTX* cipher, HMAC_CTX* hmac,
                            int encrypt) {
  sync::MutexLock lock(&mutex_);
  RotateIfDue();
  if (encrypt) {
    RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_128_cbc()));
    std::memcpy(key_name, current_.name, sizeof(current_.name));
    if (!EVP_EncryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, current_.aes_key, iv) ||
        !HMAC_Init_ex(hmac, current_.hmac_key, sizeof(current_.hmac_key), EVP_sha256(), nullptr)) {
      return -1;
    }
    return 1;
  }
  const Key* key = nullptr;
  int result = 1;
  if (std::memcmp(key_name, current_.name, sizeof(current_.name)) == 0) {
    key = &current_;
  } else if (has_previous_ && std::memcmp(key_name, previous_.name, sizeof(previous_.name)) == 0) {
    key = &previous_;
    result = 2;  // still good, but hand out a ticket under the current key
  }
  if (key == nullptr) return 0;  // unknown or expired: full handshake
  if (!HMAC_Init_ex(hmac, key->hmac_key, sizeof(key->hmac_key), EVP_sha256(), nullptr) ||
      !EVP_DecryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, key->aes_key, iv)) {
    return -1;
  }
  return result;
}

}  // namespace palisade::tls
