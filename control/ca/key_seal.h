// Sealing the self-managed CA's private keys for the shared store
// (--store=etcd): AES-256-GCM under a key-encryption key (KEK) from
// --ca_kek_file, with additional data that binds each sealed blob to its
// record key, trust domain, generation and role, so a blob cannot be moved to
// another place in the record, another record or another trust domain.
// etcd never holds a private key in clear.
#ifndef PALISADE_CONTROL_CA_KEY_SEAL_H_
#define PALISADE_CONTROL_CA_KEY_SEAL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade::control::ca {

inline constexpr size_t kKekBytes = 32;

// The KEK file: exactly 32 raw bytes (`head -c 32 /dev/urandom > kek`), or
// standard base64 of 32 bytes (`head -c 32 /dev/urandom | base64 > kek`),
// surrounding whitespace ignored. Refused (errors name --ca_kek_file and the
// path): a file any group or other user may read or write (chmod 0400/0600),
// or one that is neither form.
absl::StatusOr<std::string> LoadKek(const std::string& path);

// What a sealed blob is bound to: "palisade-ca-key/v1|<record key>|<trust
// domain>|<generation>|<role>".
std::string SealBinding(absl::string_view record_key, absl::string_view trust_domain,
                        int generation, absl::string_view role);

// base64(nonce(12) || ciphertext || tag(16)), nonce random per seal.
absl::StatusOr<std::string> Seal(absl::string_view kek, absl::string_view binding,
                                 absl::string_view plaintext);
// The plaintext; PermissionDenied when the blob does not open under `kek`
// with `binding` (wrong KEK, altered blob, or a blob from another place),
// InvalidArgument when it is not a sealed blob at all.
absl::StatusOr<std::string> Unseal(absl::string_view kek, absl::string_view binding,
                                   absl::string_view sealed);

}  // namespace palisade::control::ca

#endif  // PALISADE_CONTROL_CA_KEY_SEAL_H_
