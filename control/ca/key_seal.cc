#include "control/ca/key_seal.h"

#include <fcntl.h>
#include <openssl/aead.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace palisade::control::ca {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kMaxKekFileBytes = 4096;

absl::Status KekError(const std::string& path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--ca_kek_file \"", path, "\": ", problem));
}

}  // namespace

absl::StatusOr<std::string> LoadKek(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return KekError(path, std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return KekError(path, "not a regular file");
  }
  // The KEK opens every CA key in the store: only the service user reads it.
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    ::close(fd);
    return absl::PermissionDeniedError(absl::StrFormat(
        "--ca_kek_file \"%s\": mode %04o lets a group or other users at the key-encryption key; "
        "refusing to start (chmod 0400 %s)",
        path, st.st_mode & 07777, path));
  }
  std::string data;
  char buffer[1024];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return KekError(path, std::strerror(error));
    }
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
    if (data.size() > kMaxKekFileBytes) {
      ::close(fd);
      return KekError(path, "larger than a key-encryption key");
    }
  }
  ::close(fd);
  if (data.size() == kKekBytes) return data;
  std::string decoded;
  if (absl::Base64Unescape(absl::StripAsciiWhitespace(data), &decoded) &&
      decoded.size() == kKekBytes) {
    return decoded;
  }
  return KekError(path, absl::StrCat("must hold exactly ", kKekBytes,
                                     " random bytes, raw or base64 (head -c 32 /dev/urandom); "
                                     "it holds ",
                                     data.size(), " bytes that are neither"));
}

std::string SealBinding(absl::string_view record_key, absl::string_view trust_domain,
                        int generation, absl::string_view role) {
  return absl::StrCat("palisade-ca-key/v1|", record_key, "|", trust_domain, "|", generation, "|",
                      role);
}

absl::StatusOr<std::string> Seal(absl::string_view kek, absl::string_view binding,
                                 absl::string_view plaintext) {
  if (kek.size() != kKekBytes) return absl::InvalidArgumentError("the KEK must be 32 bytes");
  bssl::ScopedEVP_AEAD_CTX ctx;
  if (!EVP_AEAD_CTX_init(ctx.get(), EVP_aead_aes_256_gcm(),
                         reinterpret_cast<const uint8_t*>(kek.data()), kek.size(),
                         EVP_AEAD_DEFAULT_TAG_LENGTH, nullptr)) {
    return absl::InternalError("cannot set up AES-256-GCM");
  }
  std::string out(kNonceBytes + plaintext.size() + EVP_AEAD_max_overhead(EVP_aead_aes_256_gcm()),
                  '\0');
  uint8_t* nonce = reinterpret_cast<uint8_t*>(out.data());
  RAND_bytes(nonce, kNonceBytes);
  size_t written = 0;
  if (!EVP_AEAD_CTX_seal(ctx.get(), nonce + kNonceBytes, &written, out.size() - kNonceBytes, nonce,
                         kNonceBytes, reinterpret_cast<const uint8_t*>(plaintext.data()),
                         plaintext.size(), reinterpret_cast<const uint8_t*>(binding.data()),
                         binding.size())) {
    return absl::InternalError("AES-256-GCM seal failed");
  }
  out.resize(kNonceBytes + written);
  return absl::Base64Escape(out);
}

absl::StatusOr<std::string> Unseal(absl::string_view kek, absl::string_view binding,
                                   absl::string_view sealed) {
  if (kek.size() != kKekBytes) return absl::InvalidArgumentError("the KEK must be 32 bytes");
  std::string raw;
  const size_t overhead = EVP_AEAD_max_overhead(EVP_aead_aes_256_gcm());
  if (!absl::Base64Unescape(sealed, &raw) || raw.size() < kNonceBytes + overhead) {
    return absl::InvalidArgumentError("not a sealed key (base64 of nonce, ciphertext and tag)");
  }
  bssl::ScopedEVP_AEAD_CTX ctx;
  if (!EVP_AEAD_CTX_init(ctx.get(), EVP_aead_aes_256_gcm(),
                         reinterpret_cast<const uint8_t*>(kek.data()), kek.size(),
                         EVP_AEAD_DEFAULT_TAG_LENGTH, nullptr)) {
    return absl::InternalError("cannot set up AES-256-GCM");
  }
  const uint8_t* in = reinterpret_cast<const uint8_t*>(raw.data());
  std::string out(raw.size() - kNonceBytes, '\0');
  size_t written = 0;
  if (!EVP_AEAD_CTX_open(ctx.get(), reinterpret_cast<uint8_t*>(out.data()), &written, out.size(),
                         in, kNonceBytes, in + kNonceBytes, raw.size() - kNonceBytes,
                         reinterpret_cast<const uint8_t*>(binding.data()), binding.size())) {
    ERR_clear_error();
    return absl::PermissionDeniedError(
        "does not open under the key-encryption key (--ca_kek_file is not the one it was sealed "
        "with, or the sealed key was altered or moved)");
  }
  out.resize(written);
  return out;
}

}  // namespace palisade::control::ca
