// The release this build belongs to; printed by --version and sent to the
// control plane in Hello.
#ifndef PALISADE_RUNTIME_VERSION_H_
#define PALISADE_RUNTIME_VERSION_H_

namespace palisade {
inline constexpr char kVersion[] = "0.1.0";
}  // namespace palisade

#endif  // PALISADE_RUNTIME_VERSION_H_
