// An HTTP/1.1 app for tests of what reaches it: answers every request of a
// connection (keep-alive, pipelined) with the headers it received, one
// "name: value" line each, then "body-bytes: N" and "body-sha256: <hex>" of
// the decoded body. Parsed with http_parser; closes on anything it cannot parse.
#ifndef PALISADE_TESTS_UTIL_HTTP_HEADER_ECHO_H_
#define PALISADE_TESTS_UTIL_HTTP_HEADER_ECHO_H_

#include <cstdint>

namespace palisade::testing {

// Serves `fd` (blocking) until the peer closes or sends what is not HTTP;
// adds the bytes received to *bytes.
void ServeHttpHeaderEcho(int fd, uint64_t* bytes);

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_HTTP_HEADER_ECHO_H_
