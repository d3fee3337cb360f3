// Tests ci/toolchain/musl-compat/glibc_compat.c, the glibc-only functions
// libtpms.a calls, in a static musl program: each forwards correctly when the
// destination is big enough, each *_chk ends the process with SIGABRT and
// glibc's message when it is not, __longjmp_chk refuses a jump into a frame
// that has returned, and __ctype_b_loc's table classifies like the C locale.
//
// Prints one line per check and exits 0 only if every check passed.

#include <sys/wait.h>
#include <unistd.h>

#include <csetjmp>
#include <csignal>
#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

extern "C" {
void* __memcpy_chk(void* dest, const void* src, size_t len, size_t destlen);
void* __memset_chk(void* dest, int c, size_t len, size_t destlen);
int __snprintf_chk(char* s, size_t maxlen, int flag, size_t slen, const char* format, ...);
int __vsnprintf_chk(char* s, size_t maxlen, int flag, size_t slen, const char* format,
                    va_list ap);
int __asprintf_chk(char** result, int flag, const char* format, ...);
int __dprintf_chk(int fd, int flag, const char* format, ...);
int __vdprintf_chk(int fd, int flag, const char* format, va_list ap);
[[noreturn]] void __longjmp_chk(jmp_buf env, int val);
const unsigned short** __ctype_b_loc();
}

namespace {

int g_failures = 0;

void Check(bool ok, std::string_view what) {
  std::printf("%s %.*s\n", ok ? "ok  " : "FAIL", static_cast<int>(what.size()), what.data());
  if (!ok) ++g_failures;
}

// Runs body in a child; true if the child died of SIGABRT after writing a
// line containing `message` to stderr.
bool AbortsWith(const std::function<void()>& body, std::string_view message) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return false;
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    body();
    _exit(0);  // should not get here
  }
  close(pipe_fds[1]);
  std::string err;
  char buf[256];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof buf)) > 0;)
    err.append(buf, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
         err.find(message) != std::string::npos;
}

constexpr std::string_view kOverflow = "*** buffer overflow detected ***: terminated";

int VsnprintfChk(char* s, size_t maxlen, size_t slen, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  int n = __vsnprintf_chk(s, maxlen, 1, slen, format, ap);
  va_end(ap);
  return n;
}

int VdprintfChk(int fd, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  int n = __vdprintf_chk(fd, 1, format, ap);
  va_end(ap);
  return n;
}

void TestMemory() {
  char src[16] = "0123456789abcde";
  char dst[16] = {};
  Check(__memcpy_chk(dst, src, 16, sizeof dst) == dst && std::memcmp(dst, src, 16) == 0,
        "__memcpy_chk copies when it fits");
  Check(AbortsWith([&] { __memcpy_chk(dst, src, 16, 15); }, kOverflow),
        "__memcpy_chk aborts when len > destlen");
  Check(__memset_chk(dst, 'z', 8, sizeof dst) == dst && dst[7] == 'z' && dst[8] == '8',
        "__memset_chk sets when it fits");
  Check(AbortsWith([&] { __memset_chk(dst, 0, 17, sizeof dst); }, kOverflow),
        "__memset_chk aborts when len > destlen");
}

void TestPrintf() {
  char buf[16];
  int n = __snprintf_chk(buf, sizeof buf, 1, sizeof buf, "%d-%s", 12, "ab");
  Check(n == 5 && std::strcmp(buf, "12-ab") == 0, "__snprintf_chk formats");
  n = __snprintf_chk(buf, 4, 1, sizeof buf, "%s", "truncated");
  Check(n == 9 && std::strcmp(buf, "tru") == 0, "__snprintf_chk truncates at maxlen");
  Check(AbortsWith([&] { __snprintf_chk(buf, 32, 1, sizeof buf, "x"); }, kOverflow),
        "__snprintf_chk aborts when maxlen > object size");
  n = VsnprintfChk(buf, sizeof buf, sizeof buf, "%x/%c", 255, 'q');
  Check(n == 4 && std::strcmp(buf, "ff/q") == 0, "__vsnprintf_chk formats");
  Check(AbortsWith([&] { VsnprintfChk(buf, 17, sizeof buf, "x"); }, kOverflow),
        "__vsnprintf_chk aborts when maxlen > object size");

  char* out = nullptr;
  n = __asprintf_chk(&out, 1, "%s=%d", "answer", 42);
  Check(n == 9 && out != nullptr && std::strcmp(out, "answer=42") == 0,
        "__asprintf_chk allocates and formats");
  std::free(out);

  int fds[2];
  if (pipe(fds) != 0) {
    Check(false, "pipe");
    return;
  }
  int a = __dprintf_chk(fds[1], 1, "%s:%d;", "fd", 1);
  int b = VdprintfChk(fds[1], "%s:%d", "vfd", 2);
  close(fds[1]);
  char got[32] = {};
  ssize_t len = read(fds[0], got, sizeof got - 1);
  close(fds[0]);
  Check(a == 5 && b == 5 && len == 10 && std::strcmp(got, "fd:1;vfd:2") == 0,
        "__dprintf_chk and __vdprintf_chk write to the descriptor");
}

jmp_buf g_env;

[[gnu::noinline]] void JumpBack() { __longjmp_chk(g_env, 7); }

// Returns after setjmp, so g_env then names a dead frame; the large local
// puts that frame's stack pointer well below the caller's.
[[gnu::noinline]] int SetJumpAndReturn() {
  volatile char pad[4096];
  pad[0] = 1;
  return setjmp(g_env) + pad[0];
}

void TestLongjmp() {
  volatile int value = 0;
  if (int r = setjmp(g_env); r == 0) {
    JumpBack();
  } else {
    value = r;
  }
  Check(value == 7, "__longjmp_chk jumps to a live frame");
  Check(AbortsWith(
            [] {
              SetJumpAndReturn();
              __longjmp_chk(g_env, 1);
            },
            "*** longjmp causes uninitialized stack frame ***: terminated"),
        "__longjmp_chk aborts on a jump into a returned frame");
}

void TestCtype() {
  const unsigned short* table = *__ctype_b_loc();
  // glibc's _ISbit() values on little-endian x86-64.
  struct Class {
    unsigned short bit;
    int (*is)(int);
  };
  const Class classes[] = {
      {0x0100, isupper}, {0x0200, islower}, {0x0400, isalpha}, {0x0800, isdigit},
      {0x1000, isxdigit}, {0x2000, isspace}, {0x4000, isprint}, {0x8000, isgraph},
      {0x0001, isblank}, {0x0002, iscntrl}, {0x0004, ispunct}, {0x0008, isalnum},
  };
  int mismatches = 0;
  for (int c = -128; c < 256; ++c) {
    for (const auto& cls : classes) {
      bool in_table = (table[c] & cls.bit) != 0;
      bool in_c_locale = c >= 0 && cls.is(c) != 0;  // negatives: no class
      if (in_table != in_c_locale) ++mismatches;
    }
    if ((table[c] & 0x00f0) != 0) ++mismatches;  // bits glibc leaves unused
  }
  Check(mismatches == 0, "__ctype_b_loc table matches the C locale for -128..255");
}

}  // namespace

int main() {
  TestMemory();
  TestPrintf();
  TestLongjmp();
  TestCtype();
  if (g_failures != 0) {
    std::printf("%d check(s) FAILED\n", g_failures);
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}
