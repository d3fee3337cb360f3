#include "base/rate_limited_log.h"

#include <string>

#include "base/string_printf.h"

namespace base {

RateLimitedLog::Verdict RateLimitedLog::Next() {
  if (events_ > max_lines_) return Verdict::kQuiet;
  return events_++ < max_lines_ ? Verdict::kLine : Verdict::kNotice;
}

void RateLimitedLog::Print(std::string_view prefix, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  PrintV(prefix, fmt, args);
  va_end(args);
}

void RateLimitedLog::PrintV(std::string_view prefix, const char* fmt, va_list args) {
  switch (Next()) {
    case Verdict::kLine: {
      const std::string line = StringPrintfV(fmt, args);
      std::fprintf(out_, "%.*s%s\n", static_cast<int>(prefix.size()), prefix.data(), line.c_str());
      return;
    }
    case Verdict::kNotice:
      std::fprintf(out_, "%.*sfurther guest events not logged\n", static_cast<int>(prefix.size()),
                   prefix.data());
      return;
    case Verdict::kQuiet:
      return;
  }
}

}  // namespace base
