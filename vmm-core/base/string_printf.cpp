#include "base/string_printf.h"

#include <cstdio>

namespace base {

std::string StringPrintfV(const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  const int needed = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string text;
  if (needed > 0) {
    text.resize(static_cast<size_t>(needed) + 1);
    std::vsnprintf(text.data(), text.size(), fmt, args);
    text.resize(static_cast<size_t>(needed));
  }
  return text;
}

std::string StringPrintf(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string text = StringPrintfV(fmt, args);
  va_end(args);
  return text;
}

}  // namespace base
