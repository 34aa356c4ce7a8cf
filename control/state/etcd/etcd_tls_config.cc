#include "control/state/etcd/etcd_tls_config.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "identity/certificate.h"
#include "identity/keys.h"
#include "runtime/files/files.h"
#include "runtime/status/status_macros.h"
#include "runtime/tls/context_setup.h"

namespace palisade::control::state::etcd {
namespace {

absl::Status FileError(absl::string_view flag, const std::string& path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " \"", path, "\": ", problem));
}

// ReadSmallFile's errors already name the flag (its `what`).
absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> text = files::ReadSmallFile(path, absl::StrCat("--", flag));
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  return text;
}

// The same rule as --ca_kek_file's: a private key only the service user reads.
absl::Status CheckKeyFileMode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return FileError("etcd_key_file", path, std::strerror(errno));
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "--etcd_key_file \"%s\": mode %04o lets a group or other users at etcd's client key; "
        "refusing to start (chmod 0400 %s)",
        path, st.st_mode & 07777, path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckEtcdTlsFlags(const EtcdTlsFiles& files) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        files.cert_file.empty()
            ? "--etcd_key_file: needs --etcd_cert_file (the client certificate for that key)"
            : "--etcd_cert_file: needs --etcd_key_file (the certificate's private key)");
  }
  if (!files.enabled()) {
    for (const auto& [flag, value] :
         {std::pair<const char*, const std::string&>{"etcd_cert_file", files.cert_file},
          {"etcd_key_file", files.key_file},
          {"etcd_server_name", files.server_name}}) {
      if (!value.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", flag,
                         ": only with --etcd_ca_file (which turns TLS to etcd on; without it "
                         "etcd is spoken to in plaintext)"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const EtcdTlsConfig>> EtcdTlsConfig::Load(
    const EtcdTlsFiles& files) {
  RETURN_IF_ERROR(CheckEtcdTlsFlags(files));
  if (!files.enabled()) return absl::InvalidArgumentError("--etcd_ca_file: not set");
  std::shared_ptr<EtcdTlsConfig> config(new EtcdTlsConfig());
  config->server_name_ = files.server_name;

  ASSIGN_OR_RETURN(std::string ca_pem, ReadFlagFile("etcd_ca_file", files.ca_file));
  absl::StatusOr<verify::ServerRoots> roots = verify::ServerRoots::FromPem(ca_pem);
  if (!roots.ok()) return FileError("etcd_ca_file", files.ca_file, roots.status().message());
  config->roots_ = *std::move(roots);

  tls::ContextOptions options;
  options.role = tls::Role::kClient;
  options.alpn = std::string("\x02h2", 3);  // etcd serves gRPC over TLS as HTTP/2 only
  std::vector<bssl::UniquePtr<X509>> chain;
  bssl::UniquePtr<EVP_PKEY> key;
  if (!files.cert_file.empty()) {
    ASSIGN_OR_RETURN(std::string cert_pem, ReadFlagFile("etcd_cert_file", files.cert_file));
    absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> parsed =
        identity::ParsePemCertificates(cert_pem);
    if (!parsed.ok())
      return FileError("etcd_cert_file", files.cert_file, parsed.status().message());
    if (parsed->empty()) return FileError("etcd_cert_file", files.cert_file, "no certificate");
    chain = *std::move(parsed);
    RETURN_IF_ERROR(CheckKeyFileMode(files.key_file));
    ASSIGN_OR_RETURN(std::string key_pem, ReadFlagFile("etcd_key_file", files.key_file));
    absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> parsed_key = identity::ParsePrivateKeyPem(key_pem);
    if (!parsed_key.ok()) {
      return FileError("etcd_key_file", files.key_file, parsed_key.status().message());
    }
    key = *std::move(parsed_key);
    for (const auto& cert : chain) options.chain.push_back(cert.get());
    options.key = key.get();
    config->has_client_certificate_ = true;
  }
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> context = tls::NewContext(options);
  if (!context.ok()) {
    // A key that is not the certificate's is the usual cause: name both.
    return absl::InvalidArgumentError(absl::StrCat("--etcd_cert_file \"", files.cert_file,
                                                   "\" with --etcd_key_file \"", files.key_file,
                                                   "\": ", context.status().message()));
  }
  config->context_ = *std::move(context);
  return std::shared_ptr<const EtcdTlsConfig>(std::move(config));
}

}  // namespace palisade::control::state::etcd
