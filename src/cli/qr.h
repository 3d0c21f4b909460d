// QR codes for the terminal: a client's wg-quick config (or a key) shown so a phone's WireGuard app can scan it.
// Encoding is libqrencode's (byte mode, error correction level L as `qrencode` uses by default, the smallest
// version that fits); rendering packs two module rows into each text line with the UTF-8 half blocks, inside the
// 4-module quiet zone the QR standard requires.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace cloudlet::cli {

constexpr int kQrQuietZone = 4;  // modules of light border on every side

struct QrCode {
  int version = 0;         // 1..40
  int size = 0;            // modules per side: 17 + 4 * version
  std::vector<bool> dark;  // size * size, row by row
  bool is_dark(int x, int y) const { return dark[static_cast<size_t>(y) * size + x]; }
};

// Encodes any bytes (NULs included). Fails when `text` is empty or longer than a version-40-L code holds (2953
// bytes).
Result<QrCode> EncodeQr(std::string_view text);

// The code with its quiet zone as ceil((size + 8) / 2) lines of size + 8 characters, each ending in '\n'. Light
// modules are drawn with block characters and dark ones left blank, so on a terminal the code is the terminal's
// foreground colour on its background: right for the usual light-on-dark terminal. With `ansi_colors` every line
// is wrapped in escapes forcing white on black (as `qrencode -t ansiutf8` does), right on any terminal theme.
std::string RenderQrHalfBlocks(const QrCode& code, bool ansi_colors = false);

// EncodeQr + RenderQrHalfBlocks.
Result<std::string> RenderQrTerminal(std::string_view text, bool ansi_colors = false);

}  // namespace cloudlet::cli
