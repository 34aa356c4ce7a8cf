// The TLS alert that tells a peer why its certificate was refused, for each
// of identity's verification reasons. Used wherever our code verifies a peer
// (the data plane's connections, the control-plane client).
#ifndef PALISADE_RUNTIME_VERIFY_VERIFY_ALERT_H_
#define PALISADE_RUNTIME_VERIFY_VERIFY_ALERT_H_

#include <cstdint>

#include "identity/verify_reason.h"

namespace palisade::verify {

uint8_t AlertFor(identity::VerifyReason reason);

}  // namespace palisade::verify

#endif  // PALISADE_RUNTIME_VERIFY_VERIFY_ALERT_H_
