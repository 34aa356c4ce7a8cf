// The admin_http fuzzer's harness, shared with its seed test: one input is
// the raw bytes a client sends to an admin port. They go over loopback to a
// real HttpServer whose routes sit behind a RequestGuard (one route per kind
// of access), and, split into lines, straight into RequestGuard::Check.
#ifndef PALISADE_TESTS_FUZZ_ADMIN_HTTP_FUZZER_H_
#define PALISADE_TESTS_FUZZ_ADMIN_HTTP_FUZZER_H_

#include "absl/strings/string_view.h"

namespace palisade::fuzz {

inline constexpr char kAdminToken[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
inline constexpr char kAdminHostName[] = "admin.example";

// Sends `input` (then half-closes) and returns the status of the server's
// first reply, 0 when it closed without one. Aborts when a request reaches a
// route the documented rules (an independent restatement of them here) would
// refuse, when the server has not closed the connection within 5 s, or when
// RequestGuard::Check accepts a request built from `input` that the rules
// refuse.
int FuzzAdminHttp(absl::string_view input);

}  // namespace palisade::fuzz

#endif  // PALISADE_TESTS_FUZZ_ADMIN_HTTP_FUZZER_H_
