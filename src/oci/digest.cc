// Digests with OpenSSL 3 EVP (sha256 produced; sha256 and sha512 accepted when parsing).
#include "oci/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "base/fd.h"

namespace cloudlet::oci {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

std::string ToHex(const unsigned char* bytes, size_t len) {
  std::string out(len * 2, '0');
  for (size_t i = 0; i < len; ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return out;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The text is quoted in errors; cap it so a hostile megabyte string does not end up in a log line.
std::string Quote(std::string_view text) {
  constexpr size_t kMax = 80;
  std::string out = "\"";
  out.append(text.substr(0, kMax));
  if (text.size() > kMax) out += "...";
  out += "\"";
  return out;
}

}  // namespace

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Result<Digest> Digest::Parse(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return Error("invalid digest " + Quote(text) + ": expected \"<algorithm>:<hex>\", e.g. \"sha256:<64 hex digits>\"");
  }
  const std::string_view algorithm = text.substr(0, colon);
  const std::string_view hex = text.substr(colon + 1);
  size_t want = 0;
  if (algorithm == "sha256") {
    want = 64;
  } else if (algorithm == "sha512") {
    want = 128;
  } else {
    return Error("invalid digest " + Quote(text) + ": unsupported algorithm " + Quote(algorithm) +
                 " (sha256 or sha512)");
  }
  if (hex.size() != want) {
    return Error("invalid digest " + Quote(text) + ": " + std::string(algorithm) + " needs " + std::to_string(want) +
                 " hex digits, got " + std::to_string(hex.size()));
  }
  if (!IsLowerHex(hex)) {
    return Error("invalid digest " + Quote(text) + ": the encoded part must be lowercase hex [0-9a-f]");
  }
  Digest d;
  d.algorithm_ = std::string(algorithm);
  d.hex_ = std::string(hex);
  return d;
}

Digest Digest::Sha256Of(std::span<const uint8_t> data) {
  Sha256 h;
  h.Update(data.data(), data.size());
  return h.Finish();
}

Digest Digest::Sha256Of(std::string_view data) {
  Sha256 h;
  h.Update(data.data(), data.size());
  return h.Finish();
}

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  // Failure here means OpenSSL cannot allocate or lost its default provider: nothing sensible can continue.
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t len) {
  if (len == 0) return;
  if (EVP_DigestUpdate(ctx_->md, data, len) != 1) std::abort();
  bytes_ += len;
}

Digest Sha256::Finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out, &len) != 1 || len != 32) std::abort();
  // Well-formed by construction, so Parse cannot fail.
  return *Digest::Parse("sha256:" + ToHex(out, len));
}

Status Sha256UpdateFromFd(int fd, const std::string& path, Sha256* hash) {
  std::vector<unsigned char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + path);
    }
    if (n == 0) return Status::Ok();
    hash->Update(buf.data(), static_cast<size_t>(n));
  }
}

Result<Digest> Sha256OfFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  Sha256 h;
  CL_RETURN_IF_ERROR(Sha256UpdateFromFd(fd.get(), path, &h));
  return h.Finish();
}

}  // namespace cloudlet::oci
