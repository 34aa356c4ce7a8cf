// CertificateAuthority's private parts shared by its two source files
// (certificate_authority.cc: files and plug-in; certificate_authority_shared.cc:
// the shared store). Not for other users.
#ifndef PALISADE_CONTROL_CA_CA_GENERATION_H_
#define PALISADE_CONTROL_CA_CA_GENERATION_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "control/ca/certificate_authority.h"

namespace palisade::control::ca {

struct CertificateAuthority::Generation {
  int number = 0;
  bool in_bundle = true;
  bssl::UniquePtr<X509> root;
  bssl::UniquePtr<EVP_PKEY> root_key;  // null in plug-in mode
  bssl::UniquePtr<X509> intermediate;
  bssl::UniquePtr<EVP_PKEY> intermediate_key;
  std::vector<bssl::UniquePtr<X509>> chain_above;  // plug-in: between intermediate and root
  std::vector<bssl::UniquePtr<X509>> extra_roots;  // plug-in: other roots of the bundle
  std::string root_fingerprint;
  std::string intermediate_name = "intermediate";  // <name>.pem, <name>.key
  std::map<std::string, std::string> checksums;    // file name -> sha256 hex
};

// What a shared step restores when it cannot be stored: the generations (the
// same certificates and keys, referenced again), active, version, revision.
struct CertificateAuthority::Snapshot {
  std::vector<std::unique_ptr<Generation>> generations;
  int active = 0;
  uint64_t bundle_version = 0;
  int64_t revision = 0;
};

}  // namespace palisade::control::ca

#endif  // PALISADE_CONTROL_CA_CA_GENERATION_H_
