// The mutating admission webhook's logic: an AdmissionReview (v1) for a Pod
// in, an AdmissionReview response out, whose JSONPatch (RFC 6902, base64)
// makes the same pod as the manifest injector. Transport-free: the control
// plane's HTTPS endpoint passes the request body in and writes the answer.
#ifndef PALISADE_CONTROL_INJECT_ADMISSION_REVIEW_H_
#define PALISADE_CONTROL_INJECT_ADMISSION_REVIEW_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/inject/inject_options.h"

namespace palisade::inject {

// The response carries the request's uid and "allowed": true; it has a
// patch only when the pod is injected (not for other kinds or operations,
// an opted-out, already-injected or hostNetwork pod), and carries the
// injector's warnings, which kubectl prints. A pod that cannot be injected
// (e.g. it already has a volume named palisade-identity) is refused with the
// reason ("allowed": false, code 400): in a namespace that opted in, a pod
// outside the mesh could reach nothing.
// InvalidArgument when the body is not an AdmissionReview v1 request (the
// endpoint answers 400 then); options are checked as for InjectManifests.
absl::StatusOr<std::string> HandleAdmissionReview(absl::string_view request_json,
                                                  const InjectOptions& options);

}  // namespace palisade::inject

#endif  // PALISADE_CONTROL_INJECT_ADMISSION_REVIEW_H_
