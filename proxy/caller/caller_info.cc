#include "proxy/caller/caller_info.h"

#include <openssl/bio.h>
#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "runtime/verify/peer_chain.h"

namespace palisade::caller {
namespace {

std::string CommonNameOf(X509* cert) {
  X509_NAME* name = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), n);
  OPENSSL_free(utf8);
  return out;
}

std::string SubjectOf(X509* cert) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  // RFC 2253 escapes control characters, so the text is header-safe.
  if (X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    return "";
  }
  const uint8_t* data = nullptr;
  size_t length = 0;
  BIO_mem_contents(bio.get(), &data, &length);
  return std::string(reinterpret_cast<const char*>(data), length);
}

std::string FirstUriSan(X509* cert) {
  bssl::UniquePtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return "";
  for (size_t i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_STRING* uri = name->d.uniformResourceIdentifier;
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                       ASN1_STRING_length(uri));
  }
  return "";
}

std::string Sha256HexOf(X509* cert) {
  uint8_t* der = nullptr;
  const int n = i2d_X509(cert, &der);
  if (n <= 0) return "";
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(der, n, digest);
  OPENSSL_free(der);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

bool HeaderSafe(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::string Quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

CallerInfo ReadCallerInfo(const SSL* ssl, const std::string& verified_id) {
  CallerInfo info;
  info.tls_version = SSL_get_version(ssl);
  info.uri = verified_id;
  bssl::UniquePtr<X509> leaf = verify::PeerLeafOf(ssl);
  if (leaf == nullptr) return info;
  info.certificate_verified = true;  // the handshake completed only with a verified peer
  info.common_name = CommonNameOf(leaf.get());
  info.subject = SubjectOf(leaf.get());
  if (info.uri.empty()) info.uri = FirstUriSan(leaf.get());
  info.leaf_sha256 = Sha256HexOf(leaf.get());
  // What cannot travel in a header or TLV as text is left out rather than mangled.
  if (!HeaderSafe(info.common_name)) info.common_name.clear();
  if (!HeaderSafe(info.uri)) info.uri.clear();
  return info;
}

void UseGatewayIdentity(absl::string_view identity_from, const std::string& identity,
                        CallerInfo* caller) {
  caller->uri.clear();
  caller->dns.clear();
  if (!HeaderSafe(identity)) return;
  if (identity_from == "uri_san") caller->uri = identity;
  if (identity_from == "dns_san") caller->dns = identity;
  // email_san and subject_cn: the Subject element carries the holder.
}

std::string FormatForwardedClientCert(const std::string& our_id, const CallerInfo& caller) {
  std::string out;
  auto add = [&out](absl::string_view element) {
    if (!out.empty()) out.push_back(';');
    absl::StrAppend(&out, element);
  };
  if (!our_id.empty()) add(absl::StrCat("By=", our_id));
  if (!caller.leaf_sha256.empty()) add(absl::StrCat("Hash=", caller.leaf_sha256));
  if (!caller.uri.empty()) {
    // A SPIFFE ID never needs quoting; another URI might.
    const bool plain = caller.uri.find_first_of(",;=\"\\") == std::string::npos;
    add(absl::StrCat("URI=", plain ? caller.uri : Quoted(caller.uri)));
  }
  if (!caller.dns.empty()) add(absl::StrCat("DNS=", caller.dns));
  if (caller.uri.empty() && !caller.subject.empty()) {
    add(absl::StrCat("Subject=", Quoted(caller.subject)));
  }
  return out;
}

}  // namespace palisade::caller
