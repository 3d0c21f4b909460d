#include "registry/auth.h"

#include <openssl/evp.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

namespace cloudlet::registry {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The registry part of an auth file key: "https://host:port/v1/" -> "host:port".
std::string KeyHost(std::string_view key) {
  size_t scheme = key.find("://");
  if (scheme != std::string_view::npos) key.remove_prefix(scheme + 3);
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) key = key.substr(0, slash);
  return std::string(key);
}

}  // namespace

Result<Challenge> ParseChallenge(std::string_view header) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < header.size() && (header[i] == ' ' || header[i] == '\t')) ++i;
  };
  skip_ws();
  size_t start = i;
  while (i < header.size() && header[i] != ' ' && header[i] != '\t' && header[i] != ',') ++i;
  Challenge c;
  c.scheme = Lower(header.substr(start, i - start));
  if (c.scheme.empty()) return Error("WWW-Authenticate: no auth scheme");
  while (i < header.size()) {
    skip_ws();
    while (i < header.size() && (header[i] == ',' || header[i] == ' ')) ++i;
    start = i;
    while (i < header.size() && header[i] != '=' && header[i] != ',' && header[i] != ' ') ++i;
    std::string name = Lower(header.substr(start, i - start));
    skip_ws();
    if (i >= header.size() || header[i] != '=') {
      // A token without '=' starts the next challenge (or is token68 for this one): we only use the first.
      if (!name.empty() && !c.params.empty()) break;
      continue;
    }
    ++i;
    skip_ws();
    std::string value;
    if (i < header.size() && header[i] == '"') {
      ++i;
      bool closed = false;
      while (i < header.size()) {
        char ch = header[i++];
        if (ch == '\\' && i < header.size()) {
          value += header[i++];
        } else if (ch == '"') {
          closed = true;
          break;
        } else {
          value += ch;
        }
      }
      if (!closed) return Error("WWW-Authenticate: unterminated quoted string in parameter " + name);
    } else {
      start = i;
      while (i < header.size() && header[i] != ',' && header[i] != ' ') ++i;
      value = std::string(header.substr(start, i - start));
    }
    if (!name.empty()) c.params.emplace(std::move(name), std::move(value));
  }
  return c;
}

Result<Credentials> ParseCredentials(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Error("credentials must be USER:PASSWORD (the value given has no user name or no ':')");
  }
  return Credentials{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) clean += c;
  }
  if (clean.size() % 4 != 0) return Error("not base64 (length is not a multiple of 4)");
  std::string out(clean.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return Error("not base64");
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  if (!clean.empty() && clean.back() == '=') --len;
  if (clean.size() >= 2 && clean[clean.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::string BasicAuthHeader(const Credentials& credentials) {
  return "Authorization: Basic " + Base64Encode(credentials.username + ":" + credentials.password);
}

Result<std::optional<Credentials>> LookupCredentialsIn(const std::string& path, std::string_view registry) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::optional<Credentials>{};
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > (1 << 20)) return Error(path + ": auth file larger than 1 MiB");
  nlohmann::json doc = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Error(path + ": not a JSON object (an auth file)");
  auto auths = doc.find("auths");
  if (auths == doc.end() || !auths->is_object()) return std::optional<Credentials>{};
  std::vector<std::string> wanted = {std::string(registry)};
  if (registry == "docker.io") {
    wanted.emplace_back("index.docker.io");
    wanted.emplace_back("registry-1.docker.io");
  }
  for (const std::string& want : wanted) {
    for (const auto& [key, entry] : auths->items()) {
      if (KeyHost(key) != want || !entry.is_object()) continue;
      auto auth = entry.find("auth");
      if (auth == entry.end() || !auth->is_string()) continue;
      Result<std::string> decoded = Base64Decode(auth->get<std::string>());
      std::string where = path;
      where += ": auths[\"" + key + "\"].auth";
      if (!decoded.ok()) return Error(where + " is not base64");
      Result<Credentials> creds = ParseCredentials(*decoded);
      if (!creds.ok()) return Error(where + " is not base64 of user:password");
      return std::optional<Credentials>(*creds);
    }
  }
  return std::optional<Credentials>{};
}

Result<std::optional<Credentials>> LookupCredentials(std::string_view registry) {
  std::vector<std::string> files;
  if (const char* f = std::getenv("REGISTRY_AUTH_FILE"); f && *f) files.emplace_back(f);
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x)
    files.push_back(std::string(x) + "/containers/auth.json");
  if (const char* h = std::getenv("HOME"); h && *h) files.push_back(std::string(h) + "/.docker/config.json");
  for (const auto& f : files) {
    CL_ASSIGN_OR_RETURN(std::optional<Credentials> c, LookupCredentialsIn(f, registry));
    if (c) return c;
  }
  return std::optional<Credentials>{};
}

}  // namespace cloudlet::registry
