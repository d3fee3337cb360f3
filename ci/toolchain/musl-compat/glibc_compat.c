/* glibc-only symbols that Debian's libtpms.a calls, for static musl links.
 *
 * libtpms-dev ships only a glibc build of libtpms.a (its source is not in the
 * archive). It was compiled with _FORTIFY_SOURCE, so it calls glibc's checked
 * variants (__memcpy_chk, __snprintf_chk, ...), glibc's longjmp checker, and
 * glibc's ctype table accessor. `nm -u` on the archive linked against musl
 * lists exactly the symbols defined here.
 *
 * Each *_chk function checks what glibc checks (the destination's object size
 * against the requested length) and ends the process the way glibc does: a
 * message on stderr, then abort(). Otherwise it forwards to musl.
 *
 * The `flag` argument of the printf family asks glibc for extra format-string
 * checks (%n in writable memory, positional-argument gaps). Those checks are
 * about the format string, not the destination; libtpms passes constant
 * formats, so the flag is accepted and not acted on.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *__memcpy_chk(void *dest, const void *src, size_t len, size_t destlen);
void *__memset_chk(void *dest, int c, size_t len, size_t destlen);
int __snprintf_chk(char *s, size_t maxlen, int flag, size_t slen,
                   const char *format, ...);
int __vsnprintf_chk(char *s, size_t maxlen, int flag, size_t slen,
                    const char *format, va_list ap);
int __asprintf_chk(char **result, int flag, const char *format, ...);
int __dprintf_chk(int fd, int flag, const char *format, ...);
int __vdprintf_chk(int fd, int flag, const char *format, va_list ap);
_Noreturn void __longjmp_chk(jmp_buf env, int val);
const unsigned short **__ctype_b_loc(void);

/* glibc's __fortify_fail: one line on stderr, then abort (SIGABRT). */
static _Noreturn void fortify_fail(const char *what) {
  static const char prefix[] = "*** ";
  static const char suffix[] = " ***: terminated\n";
  ssize_t ignored = write(STDERR_FILENO, prefix, sizeof prefix - 1);
  ignored = write(STDERR_FILENO, what, strlen(what));
  ignored = write(STDERR_FILENO, suffix, sizeof suffix - 1);
  (void)ignored;
  abort();
}

static _Noreturn void chk_fail(void) { fortify_fail("buffer overflow detected"); }

/* ---- checked memory and string functions ------------------------------- */

void *__memcpy_chk(void *dest, const void *src, size_t len, size_t destlen) {
  if (destlen < len) chk_fail();
  return memcpy(dest, src, len);
}

void *__memset_chk(void *dest, int c, size_t len, size_t destlen) {
  if (destlen < len) chk_fail();
  return memset(dest, c, len);
}

/* slen is the real size of s; maxlen is what the caller claims it may write. */
int __vsnprintf_chk(char *s, size_t maxlen, int flag, size_t slen,
                    const char *format, va_list ap) {
  (void)flag;
  if (slen < maxlen) chk_fail();
  return vsnprintf(s, maxlen, format, ap);
}

int __snprintf_chk(char *s, size_t maxlen, int flag, size_t slen,
                   const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  int n = __vsnprintf_chk(s, maxlen, flag, slen, format, ap);
  va_end(ap);
  return n;
}

int __asprintf_chk(char **result, int flag, const char *format, ...) {
  (void)flag;
  va_list ap;
  va_start(ap, format);
  int n = vasprintf(result, format, ap);
  va_end(ap);
  return n;
}

int __vdprintf_chk(int fd, int flag, const char *format, va_list ap) {
  (void)flag;
  return vdprintf(fd, format, ap);
}

int __dprintf_chk(int fd, int flag, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  int n = __vdprintf_chk(fd, flag, format, ap);
  va_end(ap);
  return n;
}

/* ---- longjmp ------------------------------------------------------------ */

/* glibc refuses a longjmp whose target stack pointer lies below the current
 * one (the frame that called setjmp has already returned), except when the
 * jump leaves an alternate signal stack. The caller's jmp_buf was filled by
 * musl's _setjmp (glibc's setjmp macro expands to _setjmp, which musl has,
 * and both jmp_buf types are 200 bytes), so the saved stack pointer is in
 * musl's slot: rbx, rbp, r12, r13, r14, r15, rsp, rip. */
enum { kMuslJmpBufSp = 6 };

_Noreturn void __longjmp_chk(jmp_buf env, int val) {
  uintptr_t target_sp = env->__jb[kMuslJmpBufSp];
  uintptr_t current_sp = (uintptr_t)__builtin_frame_address(0);
  if (target_sp < current_sp) {
    stack_t alt;
    int leaving_altstack = 0;
    if (sigaltstack(NULL, &alt) == 0 && (alt.ss_flags & SS_ONSTACK)) {
      uintptr_t lo = (uintptr_t)alt.ss_sp;
      uintptr_t hi = lo + alt.ss_size;
      leaving_altstack = target_sp < lo || target_sp >= hi;
    }
    if (!leaving_altstack)
      fortify_fail("longjmp causes uninitialized stack frame");
  }
  longjmp(env, val);
}

/* ---- ctype -------------------------------------------------------------- */

/* glibc's <ctype.h> macros index (*__ctype_b_loc())[c] for c in -128..255
 * and test bits laid out by _ISbit(): on little-endian hosts bits 0..7 of
 * the class number land in the high byte, bits 8..11 in the low byte. */
enum {
  kUpper = 1 << 8,   /* _ISbit(0) */
  kLower = 1 << 9,   /* _ISbit(1) */
  kAlpha = 1 << 10,  /* _ISbit(2) */
  kDigit = 1 << 11,  /* _ISbit(3) */
  kXdigit = 1 << 12, /* _ISbit(4) */
  kSpace = 1 << 13,  /* _ISbit(5) */
  kPrint = 1 << 14,  /* _ISbit(6) */
  kGraph = 1 << 15,  /* _ISbit(7) */
  kBlank = 1 << 0,   /* _ISbit(8) */
  kCntrl = 1 << 1,   /* _ISbit(9) */
  kPunct = 1 << 2,   /* _ISbit(10) */
  kAlnum = 1 << 3,   /* _ISbit(11) */
};

#define IN(c, lo, hi) ((c) >= (lo) && (c) <= (hi))
#define IS_UPPER(c) IN(c, 'A', 'Z')
#define IS_LOWER(c) IN(c, 'a', 'z')
#define IS_DIGIT(c) IN(c, '0', '9')
#define IS_ALPHA(c) (IS_UPPER(c) || IS_LOWER(c))
#define IS_GRAPH(c) IN(c, 0x21, 0x7e)
/* The C locale's classes; bytes 0x80..0xff belong to none. */
#define CLASSES(c)                                                        \
  (unsigned short)((IS_UPPER(c) ? kUpper : 0) | (IS_LOWER(c) ? kLower : 0) | \
                   (IS_ALPHA(c) ? kAlpha | kAlnum : 0) |                   \
                   (IS_DIGIT(c) ? kDigit | kAlnum | kXdigit : 0) |         \
                   (IN(c, 'A', 'F') || IN(c, 'a', 'f') ? kXdigit : 0) |    \
                   (IN(c, '\t', '\r') || (c) == ' ' ? kSpace : 0) |        \
                   ((c) == '\t' || (c) == ' ' ? kBlank : 0) |              \
                   (IN(c, 0x20, 0x7e) ? kPrint : 0) |                      \
                   (IS_GRAPH(c) ? kGraph : 0) |                            \
                   (IS_GRAPH(c) && !IS_ALPHA(c) && !IS_DIGIT(c) ? kPunct : 0) | \
                   (IN(c, 0x00, 0x1f) || (c) == 0x7f ? kCntrl : 0))

#define C1(c) CLASSES(c),
#define C4(c) C1(c) C1((c) + 1) C1((c) + 2) C1((c) + 3)
#define C16(c) C4(c) C4((c) + 4) C4((c) + 8) C4((c) + 12)
#define C64(c) C16(c) C16((c) + 16) C16((c) + 32) C16((c) + 48)

/* Entries 0..127 stand for c = -128..-1 (signed chars and EOF): no class. */
static const unsigned short kCtypeTable[384] = {
    [128] = C64(0) C64(64) C64(128) C64(192)};

_Static_assert(sizeof kCtypeTable / sizeof kCtypeTable[0] == 384, "table size");

static const unsigned short *ctype_b = &kCtypeTable[128];

const unsigned short **__ctype_b_loc(void) { return &ctype_b; }
