// A fixed-size array backed by transparent huge pages where the kernel allows it (madvise mode included). Data-plane
// tables and packet buffers are tens of MB touched at random; with 4 KiB pages nearly every access would also miss
// the TLB.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace cloudlet {

template <typename T>
class HugeArray {
 public:
  HugeArray() = default;
  // n value-initialized elements.
  explicit HugeArray(size_t n) : size_(n) {
    constexpr size_t kHuge = 2 << 20;
    // Small arrays (tests, fuzzing) are not worth a 2 MiB allocation each.
    const bool huge = n * sizeof(T) >= kHuge;
    const size_t align = huge ? kHuge : (alignof(T) > 64 ? alignof(T) : 64);
    const size_t bytes = (n * sizeof(T) + align - 1) / align * align;
    void* p = std::aligned_alloc(align, bytes);
    if (!p) throw std::bad_alloc();
    if (huge) madvise(p, bytes, MADV_HUGEPAGE);  // best effort
    data_ = static_cast<T*>(p);
    for (size_t i = 0; i < n; ++i) new (&data_[i]) T();
  }
  ~HugeArray() {
    for (size_t i = 0; i < size_; ++i) data_[i].~T();
    std::free(data_);
  }
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;

  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace cloudlet
