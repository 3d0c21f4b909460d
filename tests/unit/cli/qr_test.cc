#include "cli/qr.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cloudlet::cli {
namespace {

constexpr std::string_view kUpper = "\u2580";
constexpr std::string_view kLower = "\u2584";
constexpr std::string_view kFull = "\u2588";

// The rendered text split into lines of cells (one UTF-8 character each).
std::vector<std::vector<std::string>> Cells(const std::string& text) {
  std::vector<std::vector<std::string>> lines(1);
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '\n') {
      lines.emplace_back();
      ++i;
      continue;
    }
    size_t len = 1;
    while (i + len < text.size() && (static_cast<unsigned char>(text[i + len]) & 0xc0) == 0x80) ++len;
    lines.back().push_back(text.substr(i, len));
    i += len;
  }
  EXPECT_TRUE(lines.back().empty()) << "the last line ends in a newline";
  lines.pop_back();
  return lines;
}

// Turns the half blocks back into light/dark modules: (size + 8) x (size + 8), true = light.
std::vector<std::vector<bool>> LightModules(const std::string& text, int total) {
  std::vector<std::vector<bool>> rows(static_cast<size_t>(total) + 1, std::vector<bool>(total, false));
  const auto cells = Cells(text);
  for (size_t line = 0; line < cells.size(); ++line) {
    for (size_t x = 0; x < cells[line].size(); ++x) {
      const std::string& c = cells[line][x];
      rows[2 * line][x] = c == kUpper || c == kFull;
      rows[2 * line + 1][x] = c == kLower || c == kFull;
    }
  }
  return rows;
}

TEST(Qr, SizeMatchesVersionPlusQuietZone) {
  for (const std::string& text : {std::string("hello"), std::string(100, 'x'), std::string(1000, 'y')}) {
    auto code = EncodeQr(text);
    ASSERT_TRUE(code.ok()) << code.error().message();
    EXPECT_GE(code->version, 1);
    EXPECT_LE(code->version, 40);
    EXPECT_EQ(code->size, 17 + 4 * code->version);
    const std::string rendered = RenderQrHalfBlocks(*code);
    const int total = code->size + 2 * kQrQuietZone;
    const auto cells = Cells(rendered);
    EXPECT_EQ(cells.size(), static_cast<size_t>((total + 1) / 2));
    for (const auto& line : cells) EXPECT_EQ(line.size(), static_cast<size_t>(total));
  }
  auto small = EncodeQr("hello");
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->version, 1);  // 5 bytes fit version 1 at level L
}

TEST(Qr, RenderingIsTheCodeInsideAFourModuleQuietZone) {
  auto code = EncodeQr("[Interface]\nPrivateKey = oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM=\n");
  ASSERT_TRUE(code.ok());
  const int total = code->size + 2 * kQrQuietZone;
  const auto light = LightModules(RenderQrHalfBlocks(*code), total);
  for (int y = 0; y < total; ++y) {
    for (int x = 0; x < total; ++x) {
      const int cx = x - kQrQuietZone;
      const int cy = y - kQrQuietZone;
      const bool inside = cx >= 0 && cy >= 0 && cx < code->size && cy < code->size;
      const bool expected_light = !inside || !code->is_dark(cx, cy);
      ASSERT_EQ(light[y][x], expected_light) << "module " << x << "," << y;
    }
  }
  // The row below the last (an odd count) is blank, not light: the quiet zone is exactly four modules.
  for (int x = 0; x < total; ++x) EXPECT_FALSE(light[total][x]);
  // Finder pattern corners are dark, its separator light.
  EXPECT_TRUE(code->is_dark(0, 0));
  EXPECT_TRUE(code->is_dark(code->size - 1, 0));
  EXPECT_TRUE(code->is_dark(0, code->size - 1));
  EXPECT_FALSE(code->is_dark(7, 7));
}

TEST(Qr, IsDeterministic) {
  const std::string text(300, 'q');
  auto a = RenderQrTerminal(text);
  auto b = RenderQrTerminal(text);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  auto other = RenderQrTerminal(text + "!");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*a, *other);
}

TEST(Qr, AnsiColorsWrapEveryLine) {
  auto plain = RenderQrTerminal("abc");
  auto colored = RenderQrTerminal("abc", true);
  ASSERT_TRUE(plain.ok() && colored.ok());
  std::string stripped = *colored;
  size_t lines = 0;
  for (size_t pos; (pos = stripped.find("\033[40;97m")) != std::string::npos;) {
    stripped.erase(pos, 8);
    ++lines;
  }
  for (size_t pos; (pos = stripped.find("\033[0m")) != std::string::npos;) stripped.erase(pos, 4);
  EXPECT_EQ(stripped, *plain);
  EXPECT_EQ(lines, Cells(*plain).size());
}

TEST(Qr, BinaryInput) {
  const std::string text("a\0b\xff", 4);
  EXPECT_TRUE(EncodeQr(text).ok());
}

TEST(Qr, Errors) {
  auto empty = RenderQrTerminal("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message(), "QR code: nothing to encode");
  auto big = RenderQrTerminal(std::string(2954, 'x'));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().message(), "QR code: 2954 bytes do not fit (at most 2953)");
  EXPECT_TRUE(EncodeQr(std::string(2953, 'x')).ok());
}

}  // namespace
}  // namespace cloudlet::cli
