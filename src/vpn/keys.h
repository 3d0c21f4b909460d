// WireGuard keys as text and files, the way wg(8) writes them: 32 bytes in standard base64 (44 characters, one '='),
// `wg genkey` / `wg pubkey` / `wg genpsk`, and key files that are created 0600 and read with clear errors.
// Base64 comes from OpenSSL (EVP_EncodeBlock / EVP_DecodeBlock); this file only adds wg's strictness around it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "vpn/crypto.h"

namespace cloudlet::vpn {

constexpr size_t kKeyBase64Size = 44;  // 43 characters of data and one '='
// A key file holds one line; anything bigger is not a key file (and is not read whole).
constexpr size_t kMaxKeyFileBytes = 4096;

// The 44-character base64 of a key (standard alphabet, padded), as `wg` prints keys.
std::string KeyToBase64(std::span<const uint8_t, kKeySize> key);

// Strict decoding, as wg's key_from_base64: exactly 44 characters, the standard alphabet, a final '=', and the
// last data character canonical (its two low bits, which encode nothing, zero). No surrounding whitespace.
// Errors say what is wrong but never echo the text (it may be a secret).
Status KeyFromBase64(std::string_view text, std::span<uint8_t, kKeySize> out);
Result<PublicKey> PublicKeyFromBase64(std::string_view text);
// Private and preshared keys (both SecretBytes<32>). Not clamped here: the bytes are kept as written, and the
// device clamps private keys when it applies them (as wireguard-go does).
Result<SecretBytes<kKeySize>> SecretKeyFromBase64(std::string_view text);

// `wg genkey`: a fresh clamped X25519 private key, base64.
Result<std::string> GenerateKeyBase64();
// `wg pubkey`: the public key of a base64 private key. Surrounding whitespace (a trailing newline from a file or a
// pipe) is ignored, as wg does.
Result<std::string> PublicKeyFromPrivateBase64(std::string_view private_key_base64);
// `wg genpsk`: 32 random bytes for PresharedKey, base64.
Result<std::string> GeneratePresharedKey();

// Writes `contents` to `path` atomically with mode exactly 0600 (whatever the umask): a new temporary file in the
// same directory (O_CREAT|O_EXCL|O_NOFOLLOW, so an attacker's symlink is never followed), fsync, rename over
// `path`, fsync of the directory. An existing `path` (or a symlink at `path`) is replaced, never written through.
// On failure `path` is unchanged and no temporary file is left behind.
Status WriteSecretFile(const std::string& path, std::string_view contents);

struct KeyFile {
  SecretBytes<kKeySize> key;
  // Set when the file's mode lets group or others read it: "PATH is readable by group/others (mode 0644); chmod
  // 600 it". wg(8) only warns about this, and so does cloudlet: the caller prints it.
  std::optional<std::string> warning;
};
// Reads a key file written by `wg genkey > FILE` or WriteSecretFile: one base64 key, surrounding whitespace ignored.
// Errors name the file: "wg0.key: No such file or directory", "wg0.key: not a key: expected 44 base64 characters,
// got 12", "wg0.key: larger than 4096 bytes". Pipes such as /dev/stdin are read too (up to the same bound).
Result<KeyFile> ReadKeyFile(const std::string& path);

}  // namespace cloudlet::vpn
