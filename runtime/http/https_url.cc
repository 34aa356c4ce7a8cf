#include "runtime/http/https_url.h"

#include <http_parser.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace palisade::http {

std::string HttpsUrl::Authority() const {
  const std::string name = absl::StrContains(host, ':') ? absl::StrCat("[", host, "]") : host;
  return port == 443 ? name : absl::StrCat(name, ":", port);
}

std::string HttpsUrl::Origin() const { return absl::StrCat("https://", Authority()); }

absl::StatusOr<HttpsUrl> ParseHttpsUrl(absl::string_view url) {
  http_parser_url parts;
  http_parser_url_init(&parts);
  if (url.empty() || http_parser_parse_url(url.data(), url.size(), 0, &parts) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\" is not a URL"));
  }
  auto field = [&](http_parser_url_fields f) -> absl::string_view {
    if ((parts.field_set & (1 << f)) == 0) return {};
    return url.substr(parts.field_data[f].off, parts.field_data[f].len);
  };
  const std::string scheme = absl::AsciiStrToLower(field(UF_SCHEMA));
  if (scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", url,
                     "\" is not an https:// URL; only https is accepted (what is fetched "
                     "without TLS could be replaced on the way)"));
  }
  if (!field(UF_USERINFO).empty()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\": user info is not accepted"));
  }
  if (!field(UF_FRAGMENT).empty()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\": a fragment is not accepted"));
  }
  HttpsUrl out;
  out.host = absl::AsciiStrToLower(field(UF_HOST));
  if (out.host.empty()) return absl::InvalidArgumentError(absl::StrCat("\"", url, "\": no host"));
  if ((parts.field_set & (1 << UF_PORT)) != 0) {
    if (parts.port == 0) return absl::InvalidArgumentError(absl::StrCat("\"", url, "\": port 0"));
    out.port = parts.port;
  }
  out.target = std::string(field(UF_PATH));
  if (out.target.empty()) out.target = "/";
  if (absl::string_view query = field(UF_QUERY); !query.empty()) {
    absl::StrAppend(&out.target, "?", query);
  }
  return out;
}

}  // namespace palisade::http
