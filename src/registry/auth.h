// Registry authentication: the WWW-Authenticate challenge a registry answers 401 with (RFC 7235; the distribution
// token flow's "Bearer realm=...,service=...,scope=..." or plain "Basic"), and the credentials to answer it with,
// looked up like podman and docker do: $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json,
// ~/.docker/config.json ("auths": {"<registry>": {"auth": base64("user:password")}}). Secrets never appear in an
// Error's message.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace cloudlet::registry {

struct Challenge {
  std::string scheme;                         // lowercased: "bearer", "basic"
  std::map<std::string, std::string> params;  // lowercased names: realm, service, scope, error
};

// Parses a WWW-Authenticate value; the first challenge when there are several. Quoted strings may contain commas
// and backslash escapes.
Result<Challenge> ParseChallenge(std::string_view header);

struct Credentials {
  std::string username;
  std::string password;
  bool empty() const { return username.empty() && password.empty(); }
};

// "user:password" (the password may contain ':'); errors do not repeat the input.
Result<Credentials> ParseCredentials(std::string_view user_colon_password);

// The credentials an auth file holds for `registry` ("host[:port]"; docker.io also matches Docker's
// "https://index.docker.io/v1/" key). nullopt when no file has an entry. A file that cannot be parsed is an error
// naming the file.
Result<std::optional<Credentials>> LookupCredentials(std::string_view registry);
// Same, in one given file (tests; REGISTRY_AUTH_FILE).
Result<std::optional<Credentials>> LookupCredentialsIn(const std::string& path, std::string_view registry);

std::string Base64Encode(std::string_view data);
Result<std::string> Base64Decode(std::string_view text);

// "Authorization: Basic <base64>".
std::string BasicAuthHeader(const Credentials& credentials);

}  // namespace cloudlet::registry
