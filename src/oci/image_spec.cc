// Image-spec documents: strict-where-it-matters parsing with JSON paths in errors, canonical serialization, platforms.
#include "oci/image_spec.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace cloudlet::oci {
namespace {

using nlohmann::json;

// ---- helpers for reading ----

std::string Quote(std::string_view text) {
  constexpr size_t kMax = 100;
  std::string out = "\"";
  for (char c : text.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += '?';
    } else {
      out += c;
    }
  }
  if (text.size() > kMax) out += "...";
  out += "\"";
  return out;
}

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string Idx(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }
std::string Key(const std::string& path, const std::string& key) { return path + "[" + Quote(key) + "]"; }

Error At(const std::string& path, const std::string& message) { return Error(path + ": " + message); }

// JSON null counts as absent: Docker writes "Cmd": null, "Labels": null and the like.
const json* Member(const json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<json> ParseObject(std::string_view text, const char* kind) {
  if (text.size() > kMaxJsonDocumentSize) {
    return Error(std::string(kind) + ": " + std::to_string(text.size()) + " bytes is over the limit of " +
                 std::to_string(kMaxJsonDocumentSize));
  }
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at ..." -> "parse error at ..."
    if (const size_t close = what.find("] "); what.starts_with("[json.exception") && close != std::string::npos) {
      what = what.substr(close + 2);
    }
    return Error(std::string(kind) + ": invalid JSON: " + what);
  }
  if (!j.is_object()) return Error(std::string(kind) + ": expected a JSON object, got " + j.type_name());
  return j;
}

Result<std::string> GetString(const json& obj, const char* key, const std::string& path, bool required) {
  const json* v = Member(obj, key);
  if (v == nullptr) {
    if (required) return At(Join(path, key), "required");
    return std::string();
  }
  if (!v->is_string()) return At(Join(path, key), std::string("expected a string, got ") + v->type_name());
  return v->get<std::string>();
}

Result<std::vector<std::string>> StringArray(const json& v, const std::string& path) {
  if (!v.is_array()) return At(path, std::string("expected an array of strings, got ") + v.type_name());
  std::vector<std::string> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) return At(Idx(path, i), std::string("expected a string, got ") + v[i].type_name());
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

Result<std::vector<std::string>> GetStringArray(const json& obj, const char* key, const std::string& path) {
  const json* v = Member(obj, key);
  if (v == nullptr) return std::vector<std::string>();
  return StringArray(*v, Join(path, key));
}

Result<std::map<std::string, std::string>> GetStringMap(const json& obj, const char* key, const std::string& path) {
  std::map<std::string, std::string> out;
  const json* v = Member(obj, key);
  if (v == nullptr) return out;
  const std::string p = Join(path, key);
  if (!v->is_object()) return At(p, std::string("expected an object of strings, got ") + v->type_name());
  for (const auto& [k, val] : v->items()) {
    if (!val.is_string()) return At(Key(p, k), std::string("expected a string, got ") + val.type_name());
    out.emplace(k, val.get<std::string>());
  }
  return out;
}

// Docker's "set" encoding: {"80/tcp": {}, ...}; only the keys carry meaning.
Result<std::set<std::string>> GetKeySet(const json& obj, const char* key, const std::string& path) {
  std::set<std::string> out;
  const json* v = Member(obj, key);
  if (v == nullptr) return out;
  if (!v->is_object()) return At(Join(path, key), std::string("expected an object, got ") + v->type_name());
  for (const auto& [k, val] : v->items()) out.insert(k);
  return out;
}

Result<Digest> GetDigest(const json& obj, const char* key, const std::string& path) {
  CL_ASSIGN_OR_RETURN(std::string text, GetString(obj, key, path, /*required=*/true));
  Result<Digest> d = Digest::Parse(text);
  if (!d.ok()) return d.error().wrap(Join(path, key));
  return d;
}

Result<std::string> GetMediaType(const json& obj, const std::string& path, bool required) {
  CL_ASSIGN_OR_RETURN(std::string mt, GetString(obj, "mediaType", path, required));
  if (!mt.empty() && !IsValidMediaType(mt)) return At(Join(path, "mediaType"), "invalid media type " + Quote(mt));
  return mt;
}

Status CheckSchemaVersion(const json& obj) {
  const json* v = Member(obj, "schemaVersion");
  if (v == nullptr) return At("schemaVersion", "required");
  if (!v->is_number_integer()) return At("schemaVersion", std::string("expected an integer, got ") + v->type_name());
  if (*v == 1) return At("schemaVersion", "1 is Docker's schema1, which is not supported; expected 2");
  if (*v != 2) return At("schemaVersion", v->dump() + " is not supported; expected 2");
  return Status::Ok();
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 3339 date-time: 2006-01-02T15:04:05[.frac](Z|+hh:mm|-hh:mm).
bool IsRfc3339(std::string_view s) {
  auto num = [&](size_t pos, size_t len, int lo, int hi) {
    if (pos + len > s.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (!IsDigit(s[i])) return false;
      v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi;
  };
  auto at = [&](size_t pos, std::string_view chars) { return pos < s.size() && chars.find(s[pos]) != chars.npos; };
  if (!num(0, 4, 0, 9999) || !at(4, "-") || !num(5, 2, 1, 12) || !at(7, "-") || !num(8, 2, 1, 31) || !at(10, "Tt") ||
      !num(11, 2, 0, 23) || !at(13, ":") || !num(14, 2, 0, 59) || !at(16, ":") || !num(17, 2, 0, 60)) {
    return false;
  }
  size_t pos = 19;
  if (at(pos, ".")) {
    ++pos;
    const size_t start = pos;
    while (pos < s.size() && IsDigit(s[pos])) ++pos;
    if (pos == start) return false;
  }
  if (at(pos, "Zz")) return pos + 1 == s.size();
  if (!at(pos, "+-")) return false;
  return num(pos + 1, 2, 0, 23) && at(pos + 3, ":") && num(pos + 4, 2, 0, 59) && pos + 6 == s.size();
}

Result<std::string> GetTimestamp(const json& obj, const char* key, const std::string& path) {
  CL_ASSIGN_OR_RETURN(std::string t, GetString(obj, key, path, /*required=*/false));
  if (!t.empty() && !IsRfc3339(t)) {
    return At(Join(path, key), Quote(t) + " is not an RFC 3339 time (like 2024-01-02T15:04:05Z)");
  }
  return t;
}

Result<Platform> ParsePlatformJson(const json& v, const std::string& path) {
  if (!v.is_object()) return At(path, std::string("expected an object, got ") + v.type_name());
  Platform p;
  CL_ASSIGN_OR_RETURN(p.architecture, GetString(v, "architecture", path, /*required=*/true));
  CL_ASSIGN_OR_RETURN(p.os, GetString(v, "os", path, /*required=*/true));
  CL_ASSIGN_OR_RETURN(p.os_version, GetString(v, "os.version", path, /*required=*/false));
  CL_ASSIGN_OR_RETURN(p.os_features, GetStringArray(v, "os.features", path));
  CL_ASSIGN_OR_RETURN(p.variant, GetString(v, "variant", path, /*required=*/false));
  if (p.architecture.empty()) return At(Join(path, "architecture"), "must not be empty");
  if (p.os.empty()) return At(Join(path, "os"), "must not be empty");
  return p;
}

Result<Descriptor> ParseDescriptorJson(const json& v, const std::string& path) {
  if (!v.is_object()) return At(path, std::string("expected a descriptor object, got ") + v.type_name());
  Descriptor d;
  CL_ASSIGN_OR_RETURN(d.media_type, GetMediaType(v, path, /*required=*/true));
  CL_ASSIGN_OR_RETURN(d.digest, GetDigest(v, "digest", path));
  const json* size = Member(v, "size");
  if (size == nullptr) return At(Join(path, "size"), "required");
  if (size->is_number_unsigned()) {
    const uint64_t s = size->get<uint64_t>();
    if (s > static_cast<uint64_t>(INT64_MAX)) return At(Join(path, "size"), "out of range");
    d.size = static_cast<int64_t>(s);
  } else if (size->is_number_integer()) {
    d.size = size->get<int64_t>();
    if (d.size < 0) return At(Join(path, "size"), "must be >= 0, got " + std::to_string(d.size));
  } else {
    return At(Join(path, "size"), std::string("expected an integer, got ") + size->type_name());
  }
  CL_ASSIGN_OR_RETURN(d.urls, GetStringArray(v, "urls", path));
  CL_ASSIGN_OR_RETURN(d.annotations, GetStringMap(v, "annotations", path));
  if (const json* p = Member(v, "platform")) {
    CL_ASSIGN_OR_RETURN(Platform platform, ParsePlatformJson(*p, Join(path, "platform")));
    d.platform = std::move(platform);
  }
  CL_ASSIGN_OR_RETURN(d.artifact_type, GetString(v, "artifactType", path, /*required=*/false));
  if (!d.artifact_type.empty() && !IsValidMediaType(d.artifact_type)) {
    return At(Join(path, "artifactType"), "invalid media type " + Quote(d.artifact_type));
  }
  return d;
}

Result<std::vector<Descriptor>> GetDescriptors(const json& obj, const char* key, const std::string& path,
                                               bool required) {
  std::vector<Descriptor> out;
  const json* v = Member(obj, key);
  if (v == nullptr) {
    if (required) return At(Join(path, key), "required");
    return out;
  }
  const std::string p = Join(path, key);
  if (!v->is_array()) return At(p, std::string("expected an array of descriptors, got ") + v->type_name());
  out.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    CL_ASSIGN_OR_RETURN(Descriptor d, ParseDescriptorJson((*v)[i], Idx(p, i)));
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::optional<Descriptor>> GetOptionalDescriptor(const json& obj, const char* key) {
  const json* v = Member(obj, key);
  if (v == nullptr) return std::optional<Descriptor>();
  CL_ASSIGN_OR_RETURN(Descriptor d, ParseDescriptorJson(*v, key));
  return std::optional<Descriptor>(std::move(d));
}

// Entrypoint/Cmd: an array of strings; Docker also accepts a single string.
Result<std::optional<std::vector<std::string>>> GetCommand(const json& obj, const char* key, const std::string& path) {
  const json* v = Member(obj, key);
  if (v == nullptr) return std::optional<std::vector<std::string>>();
  if (v->is_string()) return std::optional<std::vector<std::string>>(std::vector<std::string>{v->get<std::string>()});
  CL_ASSIGN_OR_RETURN(std::vector<std::string> args, StringArray(*v, Join(path, key)));
  return std::optional<std::vector<std::string>>(std::move(args));
}

bool IsValidPort(std::string_view spec) {
  const size_t slash = spec.find('/');
  const std::string_view port = spec.substr(0, slash);
  if (port.empty() || port.size() > 5) return false;
  uint32_t n = 0;
  for (char c : port) {
    if (!IsDigit(c)) return false;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  if (n == 0 || n > 65535) return false;
  if (slash == std::string_view::npos) return true;
  const std::string_view proto = spec.substr(slash + 1);
  return proto == "tcp" || proto == "udp" || proto == "sctp";
}

Result<ContainerConfig> ParseContainerConfig(const json& v, const std::string& path) {
  if (!v.is_object()) return At(path, std::string("expected an object, got ") + v.type_name());
  ContainerConfig c;
  CL_ASSIGN_OR_RETURN(c.user, GetString(v, "User", path, false));
  CL_ASSIGN_OR_RETURN(c.exposed_ports, GetKeySet(v, "ExposedPorts", path));
  for (const std::string& port : c.exposed_ports) {
    if (!IsValidPort(port)) {
      return At(Key(Join(path, "ExposedPorts"), port), "expected <port>[/tcp|udp|sctp] with port 1-65535");
    }
  }
  CL_ASSIGN_OR_RETURN(c.env, GetStringArray(v, "Env", path));
  for (size_t i = 0; i < c.env.size(); ++i) {
    const size_t eq = c.env[i].find('=');
    if (eq == std::string::npos || eq == 0) {
      return At(Idx(Join(path, "Env"), i), Quote(c.env[i]) + " is not of the form NAME=value");
    }
  }
  CL_ASSIGN_OR_RETURN(c.entrypoint, GetCommand(v, "Entrypoint", path));
  CL_ASSIGN_OR_RETURN(c.cmd, GetCommand(v, "Cmd", path));
  CL_ASSIGN_OR_RETURN(c.volumes, GetKeySet(v, "Volumes", path));
  CL_ASSIGN_OR_RETURN(c.working_dir, GetString(v, "WorkingDir", path, false));
  CL_ASSIGN_OR_RETURN(c.labels, GetStringMap(v, "Labels", path));
  CL_ASSIGN_OR_RETURN(c.stop_signal, GetString(v, "StopSignal", path, false));
  return c;
}

Result<History> ParseHistory(const json& v, const std::string& path) {
  if (!v.is_object()) return At(path, std::string("expected an object, got ") + v.type_name());
  History h;
  CL_ASSIGN_OR_RETURN(h.created, GetTimestamp(v, "created", path));
  CL_ASSIGN_OR_RETURN(h.author, GetString(v, "author", path, false));
  CL_ASSIGN_OR_RETURN(h.created_by, GetString(v, "created_by", path, false));
  CL_ASSIGN_OR_RETURN(h.comment, GetString(v, "comment", path, false));
  if (const json* e = Member(v, "empty_layer")) {
    if (!e->is_boolean())
      return At(Join(path, "empty_layer"), std::string("expected a boolean, got ") + e->type_name());
    h.empty_layer = e->get<bool>();
  }
  return h;
}

// ---- helpers for writing: empty optional members are omitted ----

void PutString(json& obj, const char* key, const std::string& value) {
  if (!value.empty()) obj[key] = value;
}
void PutArray(json& obj, const char* key, const std::vector<std::string>& values) {
  if (!values.empty()) obj[key] = values;
}
void PutMap(json& obj, const char* key, const std::map<std::string, std::string>& values) {
  if (!values.empty()) obj[key] = values;
}
void PutSet(json& obj, const char* key, const std::set<std::string>& values) {
  if (values.empty()) return;
  json set = json::object();
  for (const std::string& v : values) set[v] = json::object();
  obj[key] = std::move(set);
}

json PlatformToJson(const Platform& p) {
  json j = json::object();
  j["architecture"] = p.architecture;
  j["os"] = p.os;
  PutString(j, "os.version", p.os_version);
  PutArray(j, "os.features", p.os_features);
  PutString(j, "variant", p.variant);
  return j;
}

json DescriptorToJson(const Descriptor& d) {
  json j = json::object();
  j["mediaType"] = d.media_type;
  j["digest"] = d.digest.str();
  j["size"] = d.size;
  PutArray(j, "urls", d.urls);
  PutMap(j, "annotations", d.annotations);
  if (d.platform) j["platform"] = PlatformToJson(*d.platform);
  PutString(j, "artifactType", d.artifact_type);
  return j;
}

json DescriptorsToJson(const std::vector<Descriptor>& ds) {
  json arr = json::array();
  for (const Descriptor& d : ds) arr.push_back(DescriptorToJson(d));
  return arr;
}

// nlohmann's objects are std::maps, so keys come out in bytewise order: the dump is canonical.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A version-like variant "v8", "v8.2" as numbers for ordering; nullopt when it is not one.
std::optional<std::vector<int>> VariantNumbers(std::string_view variant) {
  if (variant.size() < 2 || variant[0] != 'v') return std::nullopt;
  std::vector<int> out;
  int cur = 0;
  size_t digits = 0;
  for (size_t i = 1; i <= variant.size(); ++i) {
    if (i == variant.size() || variant[i] == '.') {
      if (digits == 0 || out.size() >= 3) return std::nullopt;
      out.push_back(cur);
      cur = 0;
      digits = 0;
      continue;
    }
    if (!IsDigit(variant[i]) || ++digits > 4) return std::nullopt;
    cur = cur * 10 + (variant[i] - '0');
  }
  return out;
}

// The variant of a normalized platform as an orderable level: the baseline for architectures whose normalized form
// drops it (amd64 -> v1, arm64 -> v8). nullopt: not comparable, only an exact match counts.
std::optional<std::vector<int>> VariantLevel(const Platform& p) {
  if (p.variant.empty()) {
    if (p.architecture == "amd64") return std::vector<int>{1};
    if (p.architecture == "arm64") return std::vector<int>{8};
    return std::vector<int>{};
  }
  if (p.architecture == "amd64" || p.architecture == "arm64" || p.architecture == "arm") {
    return VariantNumbers(p.variant);
  }
  return std::nullopt;
}

std::string ToLower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

}  // namespace

bool IsManifestMediaType(std::string_view mt) {
  return mt == kMediaTypeImageManifest || mt == kMediaTypeDockerManifest;
}
bool IsIndexMediaType(std::string_view mt) { return mt == kMediaTypeImageIndex || mt == kMediaTypeDockerManifestList; }
bool IsConfigMediaType(std::string_view mt) { return mt == kMediaTypeImageConfig || mt == kMediaTypeDockerConfig; }
bool IsLayerMediaType(std::string_view mt) {
  return mt == kMediaTypeImageLayer || mt == kMediaTypeImageLayerGzip || mt == kMediaTypeImageLayerZstd ||
         mt == kMediaTypeDockerLayerGzip || mt == "application/vnd.oci.image.layer.nondistributable.v1.tar" ||
         mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" ||
         mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" ||
         mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

bool IsValidMediaType(std::string_view mt) {
  // RFC 6838 section 4.2: restricted-name = restricted-name-first *126restricted-name-chars.
  auto valid_name = [](std::string_view name) {
    if (name.empty() || name.size() > 127) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    if (!alnum(name[0])) return false;
    for (char c : name.substr(1)) {
      if (!alnum(c) && std::string_view("!#$&-^_.+").find(c) == std::string_view::npos) return false;
    }
    return true;
  };
  const size_t slash = mt.find('/');
  if (slash == std::string_view::npos) return false;
  return valid_name(mt.substr(0, slash)) && valid_name(mt.substr(slash + 1));
}

Result<Descriptor> ParseDescriptor(std::string_view text) {
  CL_ASSIGN_OR_RETURN(json j, ParseObject(text, "descriptor"));
  Result<Descriptor> d = ParseDescriptorJson(j, "");
  if (!d.ok()) return d.error().wrap("descriptor");
  return d;
}

Result<Manifest> ParseManifest(std::string_view text) {
  CL_ASSIGN_OR_RETURN(json j, ParseObject(text, "manifest"));
  auto parse = [&]() -> Result<Manifest> {
    CL_RETURN_IF_ERROR(CheckSchemaVersion(j));
    Manifest m;
    CL_ASSIGN_OR_RETURN(m.media_type, GetMediaType(j, "", /*required=*/false));
    if (!m.media_type.empty() && !IsManifestMediaType(m.media_type)) {
      return At("mediaType", Quote(m.media_type) + " is not an image manifest" +
                                 (IsIndexMediaType(m.media_type) ? " (it is an index)" : ""));
    }
    CL_ASSIGN_OR_RETURN(m.artifact_type, GetString(j, "artifactType", "", false));
    if (!m.artifact_type.empty() && !IsValidMediaType(m.artifact_type)) {
      return At("artifactType", "invalid media type " + Quote(m.artifact_type));
    }
    const json* config = Member(j, "config");
    if (config == nullptr) return At("config", "required");
    CL_ASSIGN_OR_RETURN(m.config, ParseDescriptorJson(*config, "config"));
    CL_ASSIGN_OR_RETURN(m.layers, GetDescriptors(j, "layers", "", /*required=*/true));
    CL_ASSIGN_OR_RETURN(m.subject, GetOptionalDescriptor(j, "subject"));
    CL_ASSIGN_OR_RETURN(m.annotations, GetStringMap(j, "annotations", ""));
    return m;
  };
  Result<Manifest> m = parse();
  if (!m.ok()) return m.error().wrap("manifest");
  return m;
}

Result<Index> ParseIndex(std::string_view text) {
  CL_ASSIGN_OR_RETURN(json j, ParseObject(text, "index"));
  auto parse = [&]() -> Result<Index> {
    CL_RETURN_IF_ERROR(CheckSchemaVersion(j));
    Index idx;
    CL_ASSIGN_OR_RETURN(idx.media_type, GetMediaType(j, "", /*required=*/false));
    if (!idx.media_type.empty() && !IsIndexMediaType(idx.media_type)) {
      return At("mediaType", Quote(idx.media_type) + " is not an image index" +
                                 (IsManifestMediaType(idx.media_type) ? " (it is a manifest)" : ""));
    }
    CL_ASSIGN_OR_RETURN(idx.artifact_type, GetString(j, "artifactType", "", false));
    if (!idx.artifact_type.empty() && !IsValidMediaType(idx.artifact_type)) {
      return At("artifactType", "invalid media type " + Quote(idx.artifact_type));
    }
    CL_ASSIGN_OR_RETURN(idx.manifests, GetDescriptors(j, "manifests", "", /*required=*/true));
    CL_ASSIGN_OR_RETURN(idx.subject, GetOptionalDescriptor(j, "subject"));
    CL_ASSIGN_OR_RETURN(idx.annotations, GetStringMap(j, "annotations", ""));
    return idx;
  };
  Result<Index> idx = parse();
  if (!idx.ok()) return idx.error().wrap("index");
  return idx;
}

Result<ImageConfig> ParseImageConfig(std::string_view text) {
  CL_ASSIGN_OR_RETURN(json j, ParseObject(text, "image config"));
  auto parse = [&]() -> Result<ImageConfig> {
    ImageConfig c;
    CL_ASSIGN_OR_RETURN(c.created, GetTimestamp(j, "created", ""));
    CL_ASSIGN_OR_RETURN(c.author, GetString(j, "author", "", false));
    CL_ASSIGN_OR_RETURN(c.architecture, GetString(j, "architecture", "", true));
    if (c.architecture.empty()) return At("architecture", "must not be empty");
    CL_ASSIGN_OR_RETURN(c.os, GetString(j, "os", "", true));
    if (c.os.empty()) return At("os", "must not be empty");
    CL_ASSIGN_OR_RETURN(c.os_version, GetString(j, "os.version", "", false));
    CL_ASSIGN_OR_RETURN(c.os_features, GetStringArray(j, "os.features", ""));
    CL_ASSIGN_OR_RETURN(c.variant, GetString(j, "variant", "", false));
    if (const json* config = Member(j, "config")) {
      CL_ASSIGN_OR_RETURN(c.config, ParseContainerConfig(*config, "config"));
    }
    const json* rootfs = Member(j, "rootfs");
    if (rootfs == nullptr) return At("rootfs", "required");
    if (!rootfs->is_object()) return At("rootfs", std::string("expected an object, got ") + rootfs->type_name());
    CL_ASSIGN_OR_RETURN(std::string type, GetString(*rootfs, "type", "rootfs", true));
    if (type != "layers") return At("rootfs.type", Quote(type) + " is not supported; expected \"layers\"");
    const json* diff_ids = Member(*rootfs, "diff_ids");
    if (diff_ids == nullptr) return At("rootfs.diff_ids", "required");
    CL_ASSIGN_OR_RETURN(std::vector<std::string> ids, StringArray(*diff_ids, "rootfs.diff_ids"));
    c.diff_ids.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      Result<Digest> d = Digest::Parse(ids[i]);
      if (!d.ok()) return d.error().wrap(Idx("rootfs.diff_ids", i));
      c.diff_ids.push_back(std::move(*d));
    }
    if (const json* history = Member(j, "history")) {
      if (!history->is_array()) return At("history", std::string("expected an array, got ") + history->type_name());
      for (size_t i = 0; i < history->size(); ++i) {
        CL_ASSIGN_OR_RETURN(History h, ParseHistory((*history)[i], Idx("history", i)));
        c.history.push_back(std::move(h));
      }
    }
    return c;
  };
  Result<ImageConfig> c = parse();
  if (!c.ok()) return c.error().wrap("image config");
  return c;
}

std::string Serialize(const Descriptor& d) { return Dump(DescriptorToJson(d)); }

std::string Serialize(const Manifest& m) {
  json j = json::object();
  j["schemaVersion"] = 2;
  PutString(j, "mediaType", m.media_type);
  PutString(j, "artifactType", m.artifact_type);
  j["config"] = DescriptorToJson(m.config);
  j["layers"] = DescriptorsToJson(m.layers);
  if (m.subject) j["subject"] = DescriptorToJson(*m.subject);
  PutMap(j, "annotations", m.annotations);
  return Dump(j);
}

std::string Serialize(const Index& idx) {
  json j = json::object();
  j["schemaVersion"] = 2;
  PutString(j, "mediaType", idx.media_type);
  PutString(j, "artifactType", idx.artifact_type);
  j["manifests"] = DescriptorsToJson(idx.manifests);
  if (idx.subject) j["subject"] = DescriptorToJson(*idx.subject);
  PutMap(j, "annotations", idx.annotations);
  return Dump(j);
}

std::string Serialize(const ImageConfig& c) {
  json j = json::object();
  PutString(j, "created", c.created);
  PutString(j, "author", c.author);
  j["architecture"] = c.architecture;
  j["os"] = c.os;
  PutString(j, "os.version", c.os_version);
  PutArray(j, "os.features", c.os_features);
  PutString(j, "variant", c.variant);
  json config = json::object();
  const ContainerConfig& cc = c.config;
  PutString(config, "User", cc.user);
  PutSet(config, "ExposedPorts", cc.exposed_ports);
  PutArray(config, "Env", cc.env);
  if (cc.entrypoint) config["Entrypoint"] = *cc.entrypoint;
  if (cc.cmd) config["Cmd"] = *cc.cmd;
  PutSet(config, "Volumes", cc.volumes);
  PutString(config, "WorkingDir", cc.working_dir);
  PutMap(config, "Labels", cc.labels);
  PutString(config, "StopSignal", cc.stop_signal);
  if (!config.empty()) j["config"] = std::move(config);
  json diff_ids = json::array();
  for (const Digest& d : c.diff_ids) diff_ids.push_back(d.str());
  j["rootfs"] = json{{"type", "layers"}, {"diff_ids", std::move(diff_ids)}};
  if (!c.history.empty()) {
    json history = json::array();
    for (const History& h : c.history) {
      json e = json::object();
      PutString(e, "created", h.created);
      PutString(e, "author", h.author);
      PutString(e, "created_by", h.created_by);
      PutString(e, "comment", h.comment);
      if (h.empty_layer) e["empty_layer"] = true;
      history.push_back(std::move(e));
    }
    j["history"] = std::move(history);
  }
  return Dump(j);
}

Descriptor DescribeBlob(std::string_view media_type, std::string_view bytes) {
  Descriptor d;
  d.media_type = std::string(media_type);
  d.digest = Digest::Sha256Of(bytes);
  d.size = static_cast<int64_t>(bytes.size());
  return d;
}

std::string SniffMediaType(std::string_view text) {
  Result<json> j = ParseObject(text, "document");
  if (!j.ok()) return "";
  if (const json* mt = Member(*j, "mediaType"); mt != nullptr && mt->is_string()) return mt->get<std::string>();
  if (Member(*j, "manifests") != nullptr) return kMediaTypeImageIndex;
  if (Member(*j, "config") != nullptr && Member(*j, "layers") != nullptr) return kMediaTypeImageManifest;
  return "";
}

Status CheckImageManifest(const Manifest& m) {
  if (!IsConfigMediaType(m.config.media_type)) {
    return Error("manifest: config.mediaType: " + Quote(m.config.media_type) +
                 " is not an image config (the manifest is an artifact, not a runnable image)");
  }
  for (size_t i = 0; i < m.layers.size(); ++i) {
    if (!IsLayerMediaType(m.layers[i].media_type)) {
      return Error("manifest: " + Idx("layers", i) + ".mediaType: " + Quote(m.layers[i].media_type) +
                   " is not a layer type cloudlet can unpack (tar, tar+gzip, tar+zstd)");
    }
  }
  return Status::Ok();
}

Status CheckConfigMatchesManifest(const ImageConfig& config, const Manifest& manifest) {
  if (config.diff_ids.size() != manifest.layers.size()) {
    return Error("image config: rootfs.diff_ids has " + std::to_string(config.diff_ids.size()) +
                 " entries but the manifest has " + std::to_string(manifest.layers.size()) + " layers");
  }
  return Status::Ok();
}

Platform NormalizePlatform(Platform p) {
  p.os = ToLower(std::move(p.os));
  p.architecture = ToLower(std::move(p.architecture));
  p.variant = ToLower(std::move(p.variant));
  std::string& arch = p.architecture;
  std::string& variant = p.variant;
  if (arch == "i386") {
    arch = "386";
    variant.clear();
  } else if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") {
    arch = "amd64";
    if (variant == "v1") variant.clear();
  } else if (arch == "aarch64" || arch == "arm64") {
    arch = "arm64";
    if (variant == "8" || variant == "v8" || variant == "v8.0") variant.clear();
  } else if (arch == "armhf") {
    arch = "arm";
    variant = "v7";
  } else if (arch == "armel") {
    arch = "arm";
    variant = "v6";
  } else if (arch == "arm") {
    if (variant.empty() || variant == "7") {
      variant = "v7";
    } else if (variant == "5" || variant == "6" || variant == "8") {
      variant = "v" + variant;
    }
  }
  return p;
}

Platform HostPlatform() {
  Platform p;
  p.os = "linux";
#if defined(__x86_64__)
  p.architecture = "amd64";
#elif defined(__aarch64__)
  p.architecture = "arm64";
#elif defined(__arm__)
  p.architecture = "arm";
#if defined(__ARM_ARCH) && __ARM_ARCH >= 7
  p.variant = "v7";
#else
  p.variant = "v6";
#endif
#elif defined(__i386__)
  p.architecture = "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  p.architecture = "ppc64le";
#elif defined(__s390x__)
  p.architecture = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  p.architecture = "riscv64";
#else
  p.architecture = "unknown";
#endif
  return p;
}

std::string PlatformString(const Platform& p) {
  std::string s = p.os + "/" + p.architecture;
  if (!p.variant.empty()) s += "/" + p.variant;
  return s;
}

Result<Platform> ParsePlatform(std::string_view text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t slash = text.find('/', start);
    parts.emplace_back(text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos || parts.size() > 3) break;
    start = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) {
    return Error("invalid platform " + Quote(text) + ": expected <os>/<architecture>[/<variant>], e.g. linux/amd64");
  }
  for (const std::string& part : parts) {
    const bool ok = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '_' || c == '-' || c == '.';
    });
    if (!ok) return Error("invalid platform " + Quote(text) + ": empty or invalid component " + Quote(part));
  }
  Platform p;
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return NormalizePlatform(std::move(p));
}

bool PlatformRuns(const Platform& want_in, const Platform& have_in) {
  const Platform want = NormalizePlatform(want_in);
  const Platform have = NormalizePlatform(have_in);
  if (want.os != have.os || want.architecture != have.architecture) return false;
  const auto want_level = VariantLevel(want);
  const auto have_level = VariantLevel(have);
  if (want_level && have_level) return *have_level <= *want_level;
  return want.variant == have.variant;
}

Result<Descriptor> SelectManifest(const Index& index, const Platform& want) {
  const Descriptor* best = nullptr;
  std::vector<int> best_level;
  std::string available;
  for (const Descriptor& d : index.manifests) {
    if (!d.platform) continue;
    if (!available.empty()) available += ", ";
    available += PlatformString(*d.platform);
    if (!PlatformRuns(want, *d.platform)) continue;
    std::vector<int> level = VariantLevel(NormalizePlatform(*d.platform)).value_or(std::vector<int>{});
    if (best == nullptr || level > best_level) {
      best = &d;
      best_level = std::move(level);
    }
  }
  if (best == nullptr) {
    return Error("no manifest for " + PlatformString(NormalizePlatform(want)) + " in the index (it has " +
                 (available.empty() ? std::string("no entries with a platform") : available) + ")");
  }
  return *best;
}

}  // namespace cloudlet::oci
