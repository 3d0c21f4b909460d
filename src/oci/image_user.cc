#include "oci/image_user.h"

#include <string>
#include <vector>

namespace cloudlet::oci {
namespace {

// The fields of the first line of `db` (passwd: name:pw:uid:gid:..., group: name:pw:gid:members) whose name is
// `name`, or, when `name` is empty, whose id (third field) is `id`. Lines with fewer than `min_fields` are skipped.
std::vector<std::string_view> FindEntry(std::string_view db, std::string_view name, uint32_t id, size_t min_fields) {
  while (!db.empty()) {
    size_t eol = db.find('\n');
    std::string_view line = db.substr(0, eol);
    db = eol == std::string_view::npos ? std::string_view() : db.substr(eol + 1);
    std::vector<std::string_view> f;
    for (size_t pos = 0;;) {
      size_t colon = line.find(':', pos);
      f.push_back(line.substr(pos, colon == std::string_view::npos ? std::string_view::npos : colon - pos));
      if (colon == std::string_view::npos) break;
      pos = colon + 1;
    }
    if (f.size() < min_fields) continue;
    uint32_t line_id = 0;
    if (name.empty() ? ParseUint32(f[2], &line_id) && line_id == id : f[0] == name) return f;
  }
  return {};
}

}  // namespace

bool ParseUint32(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 10) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

Result<User> ResolveImageUser(std::string_view user, std::string_view passwd, std::string_view group) {
  User out;
  if (user.empty()) return out;
  const size_t colon = user.find(':');
  const std::string_view u = user.substr(0, colon);
  const std::string_view g = colon == std::string_view::npos ? std::string_view() : user.substr(colon + 1);
  bool gid_known = false;
  if (ParseUint32(u, &out.uid)) {
    auto entry = FindEntry(passwd, "", out.uid, 4);
    gid_known = !entry.empty() && ParseUint32(entry[3], &out.gid);
  } else {
    auto entry = FindEntry(passwd, u, 0, 4);
    if (entry.empty() || !ParseUint32(entry[2], &out.uid)) {
      return Error("user '" + std::string(u) + "' is not in the image's /etc/passwd");
    }
    gid_known = ParseUint32(entry[3], &out.gid);
  }
  if (!g.empty()) {
    if (!ParseUint32(g, &out.gid)) {
      auto entry = FindEntry(group, g, 0, 3);
      if (entry.empty() || !ParseUint32(entry[2], &out.gid)) {
        return Error("group '" + std::string(g) + "' is not in the image's /etc/group");
      }
    }
  } else if (!gid_known) {
    out.gid = 0;
  }
  return out;
}

}  // namespace cloudlet::oci
