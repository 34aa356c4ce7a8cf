// The one way tests start palisade-control: a real process with a state
// directory, ports 0 (addresses read back from files), its admin API and CLI,
// and join tokens for the proxies it will certify.
#ifndef PALISADE_TESTS_UTIL_CONTROL_PROCESS_H_
#define PALISADE_TESTS_UTIL_CONTROL_PROCESS_H_

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/util/process.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {

// Where Bazel puts the binary in a test's runfiles.
inline constexpr char kControlBinary[] = "control/palisade-control";

class ControlProcess {
 public:
  // Starts `palisade-control serve` for trust domain example.org with
  // --state_dir=<dir>/state and ports 0, then `extra` flags (which win, e.g.
  // --trust_domain=cluster.local or a fixed --listen); returns once both
  // addresses are known and /ready answers 200 (any status when not
  // `wait_until_ready`: a replica meant to be not ready). Log: <dir>/control.log.
  static absl::StatusOr<std::unique_ptr<ControlProcess>> Start(
      const std::string& dir, const std::vector<std::string>& extra = {},
      const SpawnOptions& spawn = {}, bool wait_until_ready = true);
  // Runs a CLI subcommand against this server's admin API, with its
  // credential (--state_dir).
  CommandResult Cli(std::vector<std::string> args) const;
  // The admin credential the server wrote at start ("" if unreadable).
  std::string AdminToken() const;
  // POST to the admin API as the CLI does: application/json, the credential.
  HttpResult AdminPost(const std::string& path, const std::string& body = "{}") const;
  // GET with the credential (e.g. /api/v1/tokens).
  HttpResult AdminGet(const std::string& path) const;
  // A join token for `spiffe_id` from the admin API (single use, one hour):
  // {"token": ..., "id": ...}.
  absl::StatusOr<nlohmann::json> CreateJoinToken(const std::string& spiffe_id) const;
  // GET /api/v1/state, parsed; a discarded value when it cannot be read.
  nlohmann::json State() const;
  // The SHA-256 fingerprints of the roots in its bundle, as State() lists
  // them; empty when the state cannot be read.
  std::vector<std::string> RootFingerprints() const;

  const std::string& trust_domain() const { return trust_domain_; }
  // The SPIFFE ID it serves its identity port with.
  std::string server_spiffe_id() const { return "spiffe://" + trust_domain_ + "/palisade/control"; }
  const std::string& identity_address() const { return identity_; }
  const std::string& admin_url() const { return admin_url_; }
  const std::string& admin_address() const { return admin_; }
  std::string state_dir() const { return dir_ + "/state"; }
  // The roots a proxy needs for first contact.
  std::string bundle_file() const { return state_dir() + "/bundle.pem"; }
  Process& process() { return *process_; }

 private:
  std::string dir_;
  std::string trust_domain_;
  std::string identity_;
  std::string admin_;
  std::string admin_url_;
  std::unique_ptr<Process> process_;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_CONTROL_PROCESS_H_
