#include "proxy/gateway/gateway_trust_files.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "runtime/files/files.h"

namespace palisade::gateway {
namespace {

absl::Status InFile(absl::string_view field, int i, const std::string& file,
                    const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(field, "[", i, "] \"", file, "\": ", status.message()));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const identity::GatewayTrust>> LoadGatewayTrust(
    const config::v1::GatewayClients& gateway) {
  std::vector<bssl::UniquePtr<X509>> roots;
  for (int i = 0; i < gateway.trust_store_files_size(); ++i) {
    const std::string& file = gateway.trust_store_files(i);
    absl::StatusOr<std::string> pem = files::ReadSmallFile(file, "trust_store_files");
    if (!pem.ok()) return pem.status();
    auto certs = identity::ParsePemCertificates(*pem);
    if (!certs.ok()) return InFile("trust_store_files", i, file, certs.status());
    for (auto& cert : *certs) roots.push_back(std::move(cert));
  }
  std::vector<bssl::UniquePtr<X509_CRL>> crls;
  for (int i = 0; i < gateway.crl_files_size(); ++i) {
    const std::string& file = gateway.crl_files(i);
    absl::StatusOr<std::string> pem = files::ReadSmallFile(file, "crl_files");
    if (!pem.ok()) return pem.status();
    auto parsed = identity::ParsePemCrls(*pem);
    if (!parsed.ok()) return InFile("crl_files", i, file, parsed.status());
    for (auto& crl : *parsed) crls.push_back(std::move(crl));
  }
  auto trust = identity::GatewayTrust::Create(std::move(roots), std::move(crls));
  if (!trust.ok()) {
    return absl::Status(trust.status().code(),
                        absl::StrCat("trust_store_files: ", trust.status().message()));
  }
  return trust;
}

absl::StatusOr<std::unique_ptr<GatewayTrustFiles>> GatewayTrustFiles::Watch(
    config::v1::GatewayClients gateway, Publish publish, Refused refused) {
  std::vector<std::string> names(gateway.trust_store_files().begin(),
                                 gateway.trust_store_files().end());
  names.insert(names.end(), gateway.crl_files().begin(), gateway.crl_files().end());
  std::unique_ptr<GatewayTrustFiles> files(new GatewayTrustFiles());
  auto watcher = files::FolderWatcher::Start(names, [gateway = std::move(gateway),
                                                     publish = std::move(publish),
                                                     refused = std::move(refused)] {
    absl::StatusOr<std::shared_ptr<const identity::GatewayTrust>> trust = LoadGatewayTrust(gateway);
    if (trust.ok()) {
      publish(*std::move(trust));
    } else {
      refused(trust.status());
    }
  });
  if (!watcher.ok()) return watcher.status();
  files->watcher_ = *std::move(watcher);
  return files;
}

}  // namespace palisade::gateway
