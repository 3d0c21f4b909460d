// QR encoding through libqrencode and rendering with UTF-8 half blocks.
#include "cli/qr.h"

#include <qrencode.h>

#include <cerrno>
#include <memory>

namespace cloudlet::cli {
namespace {

struct QrcodeDeleter {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

constexpr size_t kMaxQrBytes = 2953;  // byte mode, version 40, level L

// Half blocks (U+2580 upper, U+2584 lower, U+2588 full) indexed by (top light, bottom light).
constexpr std::string_view kCell[2][2] = {{" ", "\u2584"}, {"\u2580", "\u2588"}};

}  // namespace

Result<QrCode> EncodeQr(std::string_view text) {
  if (text.empty()) return Error("QR code: nothing to encode");
  if (text.size() > kMaxQrBytes) {
    return Error("QR code: " + std::to_string(text.size()) + " bytes do not fit (at most " +
                 std::to_string(kMaxQrBytes) + ")");
  }
  // Version 0 = the smallest that fits; data mode 8-bit so any bytes round-trip.
  errno = 0;
  const std::unique_ptr<QRcode, QrcodeDeleter> encoded(QRcode_encodeData(
      static_cast<int>(text.size()), reinterpret_cast<const unsigned char*>(text.data()), 0, QR_ECLEVEL_L));
  if (!encoded) return ErrnoError("QR code: libqrencode", errno == 0 ? EINVAL : errno);
  QrCode code;
  code.version = encoded->version;
  code.size = encoded->width;
  code.dark.resize(static_cast<size_t>(code.size) * code.size);
  // Bit 0 of each byte is the module's colour (1 = dark); the other bits are libqrencode's bookkeeping.
  for (size_t i = 0; i < code.dark.size(); ++i) code.dark[i] = (encoded->data[i] & 1) != 0;
  return code;
}

std::string RenderQrHalfBlocks(const QrCode& code, bool ansi_colors) {
  const int total = code.size + 2 * kQrQuietZone;
  // Rows and columns outside the code (the quiet zone) are light; the row below the last, on an odd count, is
  // left blank so the quiet zone stays exactly four modules.
  auto light = [&](int x, int y) {
    if (y >= total) return false;
    const int cx = x - kQrQuietZone;
    const int cy = y - kQrQuietZone;
    if (cx < 0 || cy < 0 || cx >= code.size || cy >= code.size) return true;
    return !code.is_dark(cx, cy);
  };
  std::string out;
  out.reserve(static_cast<size_t>((total + 1) / 2) * (static_cast<size_t>(total) * 3 + 16));
  for (int y = 0; y < total; y += 2) {
    if (ansi_colors) out += "\033[40;97m";
    for (int x = 0; x < total; ++x) out += kCell[light(x, y) ? 1 : 0][light(x, y + 1) ? 1 : 0];
    if (ansi_colors) out += "\033[0m";
    out += '\n';
  }
  return out;
}

Result<std::string> RenderQrTerminal(std::string_view text, bool ansi_colors) {
  CL_ASSIGN_OR_RETURN(const QrCode code, EncodeQr(text));
  return RenderQrHalfBlocks(code, ansi_colors);
}

}  // namespace cloudlet::cli
