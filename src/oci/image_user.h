// The image config's User ("uid", "uid:gid", "name", "name:group", "uid:group", "name:gid") as numeric ids, the way
// Docker resolves it: names are looked up in the image's own /etc/passwd and /etc/group (never the host's). Shared by
// the containers `up` runs and by `image build` (RUN and COPY --chown).
#pragma once

#include <cstdint>
#include <string_view>

#include "base/status.h"
#include "oci/runtime_spec.h"

namespace cloudlet::oci {

// A decimal number that fits in 32 bits ("", signs, spaces and overflow: false).
bool ParseUint32(std::string_view text, uint32_t* out);

// `user` against the text of the image's /etc/passwd and /etc/group ("" when the image has none). Without a group,
// the gid is the user's primary group from /etc/passwd, else 0. Empty `user`: root (0:0). Errors name the user or
// group that is not there; callers add how to fix it in their terms.
Result<User> ResolveImageUser(std::string_view user, std::string_view passwd, std::string_view group);

}  // namespace cloudlet::oci
