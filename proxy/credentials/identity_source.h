// Where the proxy's SVID comes from: identity.files (FileSource) or
// identity.control_plane (control::ControlPlaneSource). A source feeds the
// CredentialStore from its own threads; the data plane only ever reads the
// store, so a new kind of source needs nothing changed there.
#ifndef PALISADE_PROXY_CREDENTIALS_IDENTITY_SOURCE_H_
#define PALISADE_PROXY_CREDENTIALS_IDENTITY_SOURCE_H_

namespace palisade::credentials {

class IdentitySource {
 public:
  // Stops the source and joins its threads; the store keeps what it has.
  virtual ~IdentitySource() = default;
};

}  // namespace palisade::credentials

#endif  // PALISADE_PROXY_CREDENTIALS_IDENTITY_SOURCE_H_
