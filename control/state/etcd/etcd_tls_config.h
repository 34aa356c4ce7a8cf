// What TLS to etcd is configured with (--etcd_ca_file, --etcd_cert_file,
// --etcd_key_file, --etcd_server_name), checked and loaded once at start:
// the roots that etcd's serving certificate must chain to, and one BoringSSL
// client context (TLS 1.2 minimum, ALPN h2, the client certificate for
// etcd's --client-cert-auth when one is given). Errors name the flag.
#ifndef PALISADE_CONTROL_STATE_ETCD_ETCD_TLS_CONFIG_H_
#define PALISADE_CONTROL_STATE_ETCD_ETCD_TLS_CONFIG_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/verify/server_name_verifier.h"

namespace palisade::control::state::etcd {

struct EtcdTlsFiles {
  std::string ca_file;      // set: TLS to every endpoint
  std::string cert_file;    // with key_file: the client certificate (chain)
  std::string key_file;     // mode 0400/0600: no group or other bits
  std::string server_name;  // empty: each endpoint's host
  bool enabled() const { return !ca_file.empty(); }
};

// The combinations alone (no file is read): --etcd_cert_file and
// --etcd_key_file both or neither, and neither they nor --etcd_server_name
// without --etcd_ca_file (TLS would silently stay off). InvalidArgument
// naming the flag.
absl::Status CheckEtcdTlsFlags(const EtcdTlsFiles& files);

// Immutable once loaded; shared by every bridge (thread-safe).
class EtcdTlsConfig {
 public:
  // Reads and checks the files: InvalidArgument naming the flag and file for
  // a file that is missing or holds no CA / certificate / key, or a key that
  // is not the certificate's; PermissionDenied for a key file a group or
  // other users may read.
  static absl::StatusOr<std::shared_ptr<const EtcdTlsConfig>> Load(const EtcdTlsFiles& files);

  SSL_CTX* context() const { return context_.get(); }
  const verify::ServerRoots& roots() const { return roots_; }
  // The name etcd's certificate must carry when dialling `host`.
  std::string ServerNameFor(const std::string& host) const {
    return server_name_.empty() ? host : server_name_;
  }
  bool has_client_certificate() const { return has_client_certificate_; }

 private:
  EtcdTlsConfig() = default;
  bssl::UniquePtr<SSL_CTX> context_;
  verify::ServerRoots roots_;
  std::string server_name_;
  bool has_client_certificate_ = false;
};

}  // namespace palisade::control::state::etcd

#endif  // PALISADE_CONTROL_STATE_ETCD_ETCD_TLS_CONFIG_H_
