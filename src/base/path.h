// Lexical path cleaning shared by everything that confines paths it did not choose (tar entries, build-context
// sources, paths inside an image): no filesystem access, so symlinks are the caller's business (openat2
// RESOLVE_IN_ROOT, O_NOFOLLOW).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cloudlet {

// The components of `path` with "", "." and ".." resolved lexically ("/a/./b/../c/" -> {"a", "c"}); a leading "/"
// is ignored. `climbed` (if given) is set when a ".." would go above the start; that ".." is then dropped.
inline std::vector<std::string_view> CleanComponents(std::string_view path, bool* climbed = nullptr) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    std::string_view part = path.substr(pos, next - pos);
    pos = next + 1;
    if (part.empty() || part == ".") continue;
    if (part != "..") {
      parts.push_back(part);
    } else if (!parts.empty()) {
      parts.pop_back();
    } else if (climbed != nullptr) {
      *climbed = true;
    }
  }
  return parts;
}

// The components joined with '/': "/a/c" when `absolute`, "a/c" otherwise.
inline std::string JoinComponents(const std::vector<std::string_view>& parts, bool absolute) {
  std::string out;
  for (std::string_view p : parts) {
    if (absolute || !out.empty()) out += '/';
    out += p;
  }
  return out;
}

}  // namespace cloudlet
