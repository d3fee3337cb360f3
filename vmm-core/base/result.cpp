#include "base/result.h"

#include "base/string_printf.h"

#include <cstdarg>
#include <cstring>

namespace base {

Error Error::Format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string text = StringPrintfV(fmt, args);
  va_end(args);
  return Error(std::move(text));
}

Error Error::FromErrno(std::string_view what, int err) {
  std::string text(what);
  text += ": ";
  text += std::strerror(err);
  return Error(std::move(text));
}

}  // namespace base
