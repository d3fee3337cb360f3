// printf-style formatting into a std::string (g++ 12 has no <format>).
#pragma once

#include <cstdarg>
#include <string>

namespace base {

[[gnu::format(printf, 1, 2)]] std::string StringPrintf(const char* fmt, ...);
std::string StringPrintfV(const char* fmt, va_list args);

}  // namespace base
