// One error convention for all of cloudlet: functions that can fail return Status or Result<T>.
// An Error carries a message a user can act on ("quickstart.yaml:12: vlans[0].id: 4095 out of range 1-4094"),
// never a bare errno. Both types are [[nodiscard]] so a failure cannot be ignored silently.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace cloudlet {

class Error {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}
  const std::string& message() const { return message_; }
  // Returns a new error with `context` prepended: "context: message".
  Error wrap(const std::string& context) const { return Error(context + ": " + message_); }

 private:
  std::string message_;
};

// Error from the current errno, e.g. ErrnoError("open /dev/net/tun") -> "open /dev/net/tun: No such device".
inline Error ErrnoError(const std::string& what, int err = errno) { return Error(what + ": " + std::strerror(err)); }

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  static Status Ok() { return {}; }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  const std::string& message() const { return error_.message(); }

 private:
  Error error_{""};
  bool ok_ = true;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  Result(Status st) : v_(st.error()) {}          // NOLINT(google-explicit-constructor); st must be an error
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Status status() const { return ok() ? Status::Ok() : Status(error()); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace cloudlet

// Propagates a failed Status/Result out of the calling function.
#define CL_RETURN_IF_ERROR(expr)             \
  do {                                       \
    auto _cl_st = (expr);                    \
    if (!_cl_st.ok()) return _cl_st.error(); \
  } while (0)

#define CL_CONCAT_INNER(a, b) a##b
#define CL_CONCAT(a, b) CL_CONCAT_INNER(a, b)
// CL_ASSIGN_OR_RETURN(auto x, MakeX()); binds the value or returns the error.
#define CL_ASSIGN_OR_RETURN(decl, expr)                                                  \
  auto CL_CONCAT(_cl_res_, __LINE__) = (expr);                                           \
  if (!CL_CONCAT(_cl_res_, __LINE__).ok()) return CL_CONCAT(_cl_res_, __LINE__).error(); \
  decl = std::move(CL_CONCAT(_cl_res_, __LINE__)).value()
