// RateLimitedLog: the log of events a guest can trigger (STYLE.md §3.5,
// storvsp's warn_ratelimited), so that a guest cannot flood the host's
// console or slow a VP thread with printing. The first `max_lines` lines
// are printed, then one notice that later ones are not, then nothing.
//
// Not thread-safe: one per VP thread (hcl-loader's and hcl's VpRunner).
#pragma once

#include <cstdarg>
#include <cstdio>
#include <string_view>

namespace base {

class RateLimitedLog {
 public:
  enum class Verdict { kLine, kNotice, kQuiet };

  explicit RateLimitedLog(unsigned max_lines, std::FILE* out = stderr)
      : max_lines_(max_lines), out_(out) {}

  // What the next event gets: a line (the first max_lines), the notice
  // (once, after them), or nothing. Counts the event.
  Verdict Next();

  // "<prefix><formatted line>\n", or "<prefix>further guest events not
  // logged\n", or nothing, as Next() decides.
  [[gnu::format(printf, 3, 4)]] void Print(std::string_view prefix, const char* fmt, ...);
  void PrintV(std::string_view prefix, const char* fmt, va_list args);

 private:
  unsigned max_lines_;
  unsigned events_ = 0;  // stops counting at max_lines_ + 1
  std::FILE* out_;
};

}  // namespace base
