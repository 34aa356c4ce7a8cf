// Helpers over BoringSSL's X509: PEM/DER conversion, fingerprints, serials, validity
// times and the SPIFFE ID a certificate carries. Stateless and thread-safe.
#ifndef PALISADE_IDENTITY_CERTIFICATE_H_
#define PALISADE_IDENTITY_CERTIFICATE_H_

#include <openssl/x509.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "identity/spiffe_id.h"

namespace palisade {
namespace identity {

// Every "CERTIFICATE" block of `pem`, in order. Text outside PEM blocks is ignored
// (comments in bundle files); any other block type, a block with headers, bad
// base64 or DER with trailing bytes is an InvalidArgument error, as is a `pem`
// with no certificate at all.
absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> ParsePemCertificates(absl::string_view pem);

// One DER certificate with nothing after it; InvalidArgument otherwise.
absl::StatusOr<bssl::UniquePtr<X509>> ParseDerCertificate(absl::string_view der);

std::string CertificateToDer(const X509* cert);
std::string CertificateToPem(const X509* cert);
// The PEM blocks of `certs` concatenated in order (e.g. leaf then intermediates).
std::string CertificatesToPem(absl::Span<X509* const> certs);

// Lowercase hex of SHA-256 over the DER encoding (64 characters).
std::string Sha256Fingerprint(const X509* cert);

// Lowercase hex of the serial number's magnitude, without leading zero bytes
// ("-" prefix if a malformed certificate has a negative serial).
std::string SerialHex(const X509* cert);

// Validity bounds. An unparsable time reads as the safe extreme: NotBefore as
// absl::InfiniteFuture(), NotAfter as absl::InfinitePast().
absl::Time NotBefore(const X509* cert);
absl::Time NotAfter(const X509* cert);

// The URI subjectAltNames of `cert`, in order; empty when there is no SAN
// extension. InvalidArgument if the extension is malformed or repeated.
absl::StatusOr<std::vector<std::string>> UriSansOf(const X509* cert);

// The SPIFFE ID of an X.509-SVID: the certificate must carry exactly one URI SAN
// and it must be a valid SPIFFE ID. InvalidArgument naming the rule otherwise.
absl::StatusOr<SpiffeId> SpiffeIdOf(const X509* leaf);

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_CERTIFICATE_H_
