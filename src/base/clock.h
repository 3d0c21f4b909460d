// Time is a parameter, never a hidden now(): protocol cores take a TimePoint; only the I/O layer reads a Clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace cloudlet {

// Monotonic nanoseconds. Cheap to copy and compare; the zero point is arbitrary.
using Nanos = int64_t;
constexpr Nanos kSecond = 1'000'000'000;
constexpr Nanos kMillisecond = 1'000'000;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Nanos now() const = 0;
};

class MonotonicClock final : public Clock {
 public:
  Nanos now() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// For tests: time moves only when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Nanos start = 0) : now_(start) {}
  Nanos now() const override { return now_; }
  void advance(Nanos d) { now_ += d; }
  void set(Nanos t) { now_ = t; }

 private:
  Nanos now_;
};

}  // namespace cloudlet
