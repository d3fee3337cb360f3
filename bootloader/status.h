// Results for freestanding code: no allocation, so an error is a string
// literal naming what failed; the shim prints it on the serial console.
#pragma once

namespace shim {

class [[nodiscard]] Status {
 public:
  static constexpr Status Ok() { return Status(nullptr); }
  static constexpr Status Fail(const char* message) { return Status(message); }
  constexpr bool ok() const { return message_ == nullptr; }
  constexpr const char* message() const { return message_; }

 private:
  constexpr explicit Status(const char* message) : message_(message) {}
  const char* message_;
};

template <typename T>
class [[nodiscard]] Expected {
 public:
  constexpr Expected(T value) : value_(value), status_(Status::Ok()) {}
  constexpr Expected(Status failure) : value_{}, status_(failure) {}
  constexpr bool ok() const { return status_.ok(); }
  constexpr const T& value() const { return value_; }
  constexpr Status status() const { return status_; }

 private:
  T value_;
  Status status_;
};

}  // namespace shim
