// Result<T>: a value or an Error, the project's one way to report failure.
//
// Why our own type and not std::expected: clang 14 (the only toolchain here
// with libFuzzer) cannot compile libstdc++ 12's <expected>, and every parser
// must build as a libFuzzer target (ENVIRONMENT.md, "Fuzzing toolchains").
// The surface mirrors std::expected so a later switch is mechanical.
//
// Errors carry a one-line human message; layers that need finer detail
// (a SCSI sense code, an NVMe status) keep their own error enums and map
// to Error at their edge (STYLE.md P2).
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace base {

class Error {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}

  // printf-style construction for messages that name a value or an offset.
  [[gnu::format(printf, 1, 2)]] static Error Format(const char* fmt, ...);
  // "what: strerror(err)".
  static Error FromErrno(std::string_view what, int err);

  const std::string& message() const { return message_; }

  // Prefixes context ("reading header: ") to a lower layer's message.
  Error Context(std::string_view prefix) && {
    message_.insert(0, std::string(prefix) + ": ");
    return std::move(*this);
  }

 private:
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>);

 public:
  using value_type = T;

  Result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : storage_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return storage_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(storage_); }
  const T& value() const& { return std::get<0>(storage_); }
  T&& value() && { return std::get<0>(std::move(storage_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& { return std::get<1>(storage_); }
  Error&& error() && { return std::get<1>(std::move(storage_)); }

  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Error> storage_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;

  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  void value() const {}

  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

inline Result<void> Ok() { return {}; }

}  // namespace base

// TRY(expr): evaluate a Result; on error return the error from the enclosing
// function, otherwise yield the value. The only control-flow macro we allow
// (STYLE.md P2). A GNU statement expression, supported by g++ and clang; the
// temporary gets a unique name so TRYs can nest without shadowing.
#define TRY(expr) BASE_TRY_IMPL_(expr, BASE_TRY_NAME_(__COUNTER__))
#define BASE_TRY_NAME_(counter) BASE_TRY_CONCAT_(try_result_, counter)
#define BASE_TRY_CONCAT_(a, b) a##b
#define BASE_TRY_IMPL_(expr, name)           \
  __extension__({                            \
    auto&& name = (expr);                    \
    if (!name.ok())                          \
      return std::move(name).error();        \
    std::move(name).value();                 \
  })
