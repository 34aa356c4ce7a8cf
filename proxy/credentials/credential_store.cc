#include "proxy/credentials/credential_store.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "absl/status/status.h"

namespace palisade::credentials {

CredentialStore::CredentialStore(Options options) : options_(std::move(options)) {}

absl::Status CredentialStore::Update(CredentialMaterial material) {
  sync::MutexLock write_lock(&write_mutex_);
  return Publish(std::move(material));
}

absl::Status CredentialStore::UpdateBundles(identity::TrustBundleSet bundles,
                                            const std::string& source) {
  sync::MutexLock write_lock(&write_mutex_);
  const Snapshot current = Current();
  if (current == nullptr) {
    return absl::FailedPreconditionError("a trust bundle arrived before any SVID");
  }
  CredentialMaterial material;
  for (const auto& cert : current->chain) material.chain.push_back(bssl::UpRef(cert));
  material.key = bssl::UpRef(current->key);
  material.bundles = std::move(bundles);
  material.source = source;
  return Publish(std::move(material));
}

void CredentialStore::UpdateDenyList(std::shared_ptr<const identity::DenyList> list) {
  sync::MutexLock write_lock(&write_mutex_);
  deny_list_ = std::move(list);
  const Snapshot current = Current();
  if (current == nullptr) return;  // the first SVID brings it
  std::shared_ptr<CredentialSnapshot> next = WithDenyList(*current, deny_list_);
  {
    sync::MutexLock lock(&mutex_);
    stats_.last_update = options_.clock();
  }
  Install(std::move(next), /*bundle_changed=*/false);
}

namespace {

// The same SVID chain, key and roots as what is running: nothing to publish.
bool SameAsRunning(const CredentialSnapshot& running, const CredentialMaterial& material,
                   const std::map<std::string, std::vector<std::string>>& fingerprints,
                   const std::map<std::string, std::vector<std::string>>& running_fingerprints) {
  if (running.chain.size() != material.chain.size() || material.key == nullptr ||
      EVP_PKEY_cmp(running.key.get(), material.key.get()) != 1 ||
      fingerprints != running_fingerprints) {
    return false;
  }
  for (size_t i = 0; i < material.chain.size(); ++i) {
    if (X509_cmp(running.chain[i].get(), material.chain[i].get()) != 0) return false;
  }
  return true;
}

}  // namespace

absl::Status CredentialStore::Publish(CredentialMaterial material) {
  const std::map<std::string, std::vector<std::string>> fingerprints =
      material.bundles.Fingerprints();
  if (const Snapshot running = Current();
      running != nullptr && SameAsRunning(*running, material, fingerprints, bundle_fingerprints_)) {
    return absl::OkStatus();  // a new snapshot would only drop sessions and caches
  }
  const bool bundle_changed = ticket_keys_ == nullptr || fingerprints != bundle_fingerprints_;
  // New roots mean new ticket keys: sessions made under the old bundle must
  // not resume without a full check.
  std::shared_ptr<tls::TicketKeyRing> ticket_keys =
      bundle_changed ? std::make_shared<tls::TicketKeyRing>(options_.ticket_key_rotation)
                     : ticket_keys_;

  SnapshotOptions snapshot_options;
  snapshot_options.now = options_.clock();
  snapshot_options.expected_id = options_.expected_id;
  snapshot_options.tls = options_.tls;
  snapshot_options.clock_skew = options_.clock_skew;
  absl::StatusOr<std::shared_ptr<CredentialSnapshot>> built =
      BuildSnapshot(std::move(material), snapshot_options, ticket_keys);

  {
    sync::MutexLock lock(&mutex_);
    stats_.last_update = snapshot_options.now;
    if (!built.ok()) {
      ++stats_.rejected;
      stats_.last_error = std::string(built.status().message());
      return built.status();
    }
  }
  (*built)->deny_list = deny_list_;
  Install(*std::move(built), bundle_changed);
  ticket_keys_ = std::move(ticket_keys);
  bundle_fingerprints_ = fingerprints;
  return absl::OkStatus();
}

void CredentialStore::Install(std::shared_ptr<CredentialSnapshot> snapshot, bool bundle_changed) {
  std::vector<Subscriber> subscribers;
  Snapshot published;
  {
    sync::MutexLock lock(&mutex_);
    ++stats_.accepted;
    if (bundle_changed) ++bundle_generation_;
    snapshot->generation = stats_.accepted;
    snapshot->bundle_generation = bundle_generation_;
    current_ = std::move(snapshot);
    published = current_;
    subscribers = subscribers_;
  }
  for (const Subscriber& subscriber : subscribers) subscriber(published);
}

CredentialStore::Snapshot CredentialStore::Current() const {
  sync::MutexLock lock(&mutex_);
  return current_;
}

void CredentialStore::Subscribe(Subscriber subscriber) {
  // Under the write lock, so no publish can slip between "current" and "later".
  sync::MutexLock write_lock(&write_mutex_);
  Snapshot current;
  {
    sync::MutexLock lock(&mutex_);
    subscribers_.push_back(subscriber);
    current = current_;
  }
  if (current != nullptr) subscriber(current);
}

CredentialStore::Stats CredentialStore::stats() const {
  sync::MutexLock lock(&mutex_);
  return stats_;
}

}  // namespace palisade::credentials
