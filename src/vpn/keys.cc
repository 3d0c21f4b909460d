// Base64 keys (OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock plus wg's strictness) and 0600 key files.
#include "vpn/keys.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <string>

#include "base/fd.h"

namespace cloudlet::vpn {
namespace {

constexpr std::string_view kBase64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kWhitespace = " \t\r\n\v\f";

std::string_view Trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(kWhitespace);
  return text.substr(begin, end - begin + 1);
}

// Wipes a std::string that held a secret before it is freed.
void WipeString(std::string& s) {
  SecureZero(s.data(), s.size());
  s.clear();
}

Status WriteAll(int fd, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoError("write", n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string HexSuffix() {
  std::array<uint8_t, 8> random{};
  RandomBytes(random);
  std::string out;
  for (uint8_t b : random) {
    constexpr std::string_view kHex = "0123456789abcdef";
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

}  // namespace

std::string KeyToBase64(std::span<const uint8_t, kKeySize> key) {
  std::array<unsigned char, kKeyBase64Size + 1> text{};  // EVP_EncodeBlock adds a NUL
  const int n = EVP_EncodeBlock(text.data(), key.data(), static_cast<int>(key.size()));
  return std::string(reinterpret_cast<const char*>(text.data()), static_cast<size_t>(n));
}

Status KeyFromBase64(std::string_view text, std::span<uint8_t, kKeySize> out) {
  if (text.size() != kKeyBase64Size) {
    return Error("not a key: expected " + std::to_string(kKeyBase64Size) + " base64 characters, got " +
                 std::to_string(text.size()));
  }
  if (text.back() != '=') return Error("not a key: a 32-byte key in base64 ends in one '='");
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (kBase64Alphabet.find(text[i]) == std::string_view::npos) {
      return Error("not a key: character " + std::to_string(i + 1) + " is not in the base64 alphabet");
    }
  }
  // 43 characters carry 258 bits for 256: the last one's two low bits must be zero, or two spellings would name
  // the same key.
  if ((kBase64Alphabet.find(text[kKeyBase64Size - 2]) & 3) != 0) {
    return Error("not a key: non-canonical base64 (the last character before '=' has stray low bits)");
  }
  // EVP_DecodeBlock ignores padding and so yields 33 bytes, the last one zero.
  std::array<unsigned char, kKeySize + 3> decoded{};
  const int n = EVP_DecodeBlock(decoded.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n != static_cast<int>(kKeySize) + 1) {
    SecureZero(decoded.data(), decoded.size());
    return Error("not a key: invalid base64");
  }
  std::copy(decoded.begin(), decoded.begin() + kKeySize, out.begin());
  SecureZero(decoded.data(), decoded.size());
  return Status::Ok();
}

Result<PublicKey> PublicKeyFromBase64(std::string_view text) {
  PublicKey key{};
  CL_RETURN_IF_ERROR(KeyFromBase64(text, key));
  return key;
}

Result<SecretBytes<kKeySize>> SecretKeyFromBase64(std::string_view text) {
  SecretBytes<kKeySize> key;
  CL_RETURN_IF_ERROR(KeyFromBase64(text, key.span()));
  return key;
}

Result<std::string> GenerateKeyBase64() {
  CL_ASSIGN_OR_RETURN(const PrivateKey key, GeneratePrivateKey());
  return KeyToBase64(key.span());
}

Result<std::string> PublicKeyFromPrivateBase64(std::string_view private_key_base64) {
  CL_ASSIGN_OR_RETURN(const PrivateKey key, SecretKeyFromBase64(Trim(private_key_base64)));
  CL_ASSIGN_OR_RETURN(const PublicKey public_key, DerivePublicKey(key));
  return KeyToBase64(public_key);
}

Result<std::string> GeneratePresharedKey() {
  SecretBytes<kKeySize> key;
  RandomBytes(key.span());
  return KeyToBase64(key.span());
}

Status WriteSecretFile(const std::string& path, std::string_view contents) {
  if (path.empty()) return Error("write secret file: empty path");
  constexpr int kAttempts = 16;  // name collisions with 64 random bits only happen under attack
  std::string tmp;
  UniqueFd fd;
  for (int attempt = 0; attempt < kAttempts && !fd.valid(); ++attempt) {
    tmp = path + ".tmp-" + HexSuffix();
    fd.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid() && errno != EEXIST) return ErrnoError(path + ": create", errno);
  }
  if (!fd.valid()) return Error(path + ": could not create a temporary file next to it");
  // The umask may have removed bits from 0600 (never added any); set the mode exactly.
  Status st = ::fchmod(fd.get(), 0600) == 0 ? Status::Ok() : Status(ErrnoError("fchmod"));
  if (st.ok()) st = WriteAll(fd.get(), contents);
  if (st.ok() && ::fsync(fd.get()) != 0) st = ErrnoError("fsync");
  if (st.ok() && ::close(fd.release()) != 0) st = ErrnoError("close");
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = ErrnoError("rename");
  if (!st.ok()) {
    fd.reset();
    ::unlink(tmp.c_str());
    return st.error().wrap(path);
  }
  // Make the rename itself durable; the file is already complete, so a failure here is only reported.
  const std::string dir = DirectoryOf(path);
  const UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid() || ::fsync(dir_fd.get()) != 0) return ErrnoError(path + ": fsync " + dir);
  return Status::Ok();
}

Result<KeyFile> ReadKeyFile(const std::string& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return ErrnoError(path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(path + ": fstat");
  if (S_ISDIR(st.st_mode)) return Error(path + ": is a directory, not a key file");
  KeyFile result;
  if (S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    result.warning = path + " is accessible by group/others (mode " + mode + "); chmod 600 it";
  }
  // Read one byte beyond the bound to tell "exactly at the bound" from "too large"; bounded in count too.
  std::string text(kMaxKeyFileBytes + 1, '\0');
  size_t used = 0;
  constexpr int kMaxReads = 4096;
  for (int reads = 0; reads < kMaxReads && used < text.size(); ++reads) {
    const ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      WipeString(text);
      return ErrnoError(path, err);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  if (used > kMaxKeyFileBytes) {
    WipeString(text);
    return Error(path + ": larger than " + std::to_string(kMaxKeyFileBytes) + " bytes, not a key file");
  }
  const std::string_view key_text = Trim(std::string_view(text).substr(0, used));
  Status decoded =
      key_text.empty() ? Status(Error("empty, expected a base64 key")) : KeyFromBase64(key_text, result.key.span());
  WipeString(text);
  if (!decoded.ok()) return decoded.error().wrap(path);
  return result;
}

}  // namespace cloudlet::vpn
