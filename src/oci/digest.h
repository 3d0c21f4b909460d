// Content digests as OCI writes them ("sha256:<64 lowercase hex>"), computed with OpenSSL's EVP. Only sha256 is
// produced; sha512 is accepted when reading (the image spec allows it). A Digest is always well-formed: parsing
// rejects anything else, so a digest can safely name a file (blobs/sha256/<hex>).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace cloudlet::oci {

class Digest {
 public:
  Digest() = default;
  // "sha256:<64 hex>" or "sha512:<128 hex>", lowercase hex only.
  static Result<Digest> Parse(std::string_view text);
  static Digest Sha256Of(std::span<const uint8_t> data);
  static Digest Sha256Of(std::string_view data);

  const std::string& algorithm() const { return algorithm_; }  // "sha256"
  const std::string& hex() const { return hex_; }
  std::string str() const { return algorithm_ + ":" + hex_; }
  bool empty() const { return hex_.empty(); }
  bool operator==(const Digest& o) const = default;
  // For ordered containers. (Not a defaulted <=>: clang-tidy 14 misreads it as a null literal.)
  bool operator<(const Digest& o) const {
    return algorithm_ != o.algorithm_ ? algorithm_ < o.algorithm_ : hex_ < o.hex_;
  }

 private:
  std::string algorithm_, hex_;
};

// Incremental sha256 over a stream (a blob being downloaded, a layer being written).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t len);
  Digest Finish();  // once
  uint64_t bytes() const { return bytes_; }

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  uint64_t bytes_ = 0;
};

// Hashes a file (bounded reads). Errors name the file.
Result<Digest> Sha256OfFile(const std::string& path);

// Feeds everything from `fd`'s current offset to end of file into `hash` (bounded reads, EINTR retried), for callers
// that must hash the very file they opened and checked. Errors name `path`.
Status Sha256UpdateFromFd(int fd, const std::string& path, Sha256* hash);

}  // namespace cloudlet::oci
