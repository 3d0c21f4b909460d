// Signal names as `runtime kill` accepts them: "KILL", "SIGKILL", "sigterm", or a number ("9").
#pragma once

#include <string_view>

#include "base/status.h"

namespace cloudlet::container {

Result<int> ParseSignal(std::string_view text);

}  // namespace cloudlet::container
