// Proof that a static musl program built with ci/toolchain's g++ wrapper has
// a working C++23 runtime: exceptions (unwinding needs _dl_find_object and
// --eh-frame-hdr), RTTI, the standard containers, std::function,
// std::expected, threads and mutexes, iostreams, dynamic initialization of
// globals in declaration order, and std::span.
//
// Prints one line per check and exits 0 only if every check passed.

#include <stdlib.h>  // deliberately the C name: see TestCHeaders

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <expected>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

int g_failures = 0;

void Check(bool ok, std::string_view what) {
  std::cout << (ok ? "ok   " : "FAIL ") << what << '\n';
  if (!ok) ++g_failures;
}

// ---- static initialization order --------------------------------------------
// Globals in one translation unit are dynamically initialized in declaration
// order, before main; function-local statics on first use.

std::vector<std::string>& InitLog() {
  static std::vector<std::string> log;
  return log;
}

struct Recorder {
  explicit Recorder(std::string n) : name(std::move(n)) { InitLog().push_back(name); }
  std::string name;
};

Recorder g_first("first");
Recorder g_second("second");
const std::string g_joined = g_first.name + "+" + g_second.name;
constinit int g_constant = 7;  // constant initialization: no code runs

void TestStaticInit() {
  Check(InitLog() == std::vector<std::string>{"first", "second"},
        "globals constructed in declaration order before main");
  Check(g_joined == "first+second", "a global initialized from earlier globals");
  Check(g_constant == 7, "constinit global");
}

// ---- exceptions ----------------------------------------------------------------

class TestError : public std::runtime_error {
 public:
  TestError(const char* what, int code) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

struct CountOnDestroy {
  explicit CountOnDestroy(int& counter) : counter_(counter) {}
  ~CountOnDestroy() { ++counter_; }
  CountOnDestroy(const CountOnDestroy&) = delete;
  CountOnDestroy& operator=(const CountOnDestroy&) = delete;
  int& counter_;
};

// Recurses so that the throw crosses several frames, each with a destructor
// the unwinder must run. noinline keeps the frames real.
[[gnu::noinline]] int ThrowFromDepth(int depth, int& destroyed) {
  CountOnDestroy guard(destroyed);
  if (depth == 0) throw TestError("deep", 42);
  return ThrowFromDepth(depth - 1, destroyed) + 1;
}

void TestExceptions() {
  int destroyed = 0;
  int code = 0;
  try {
    ThrowFromDepth(5, destroyed);
  } catch (const TestError& e) {
    code = e.code();
  }
  Check(code == 42, "custom exception caught across 6 frames");
  Check(destroyed == 6, "destructors ran during unwinding");

  bool out_of_range = false;
  std::vector<int> v{1, 2, 3};
  try {
    (void)v.at(3);
  } catch (const std::out_of_range&) {
    out_of_range = true;
  }
  Check(out_of_range, "std::out_of_range from vector::at");

  bool caught_as_base = false;
  try {
    (void)std::stoi("not a number");
  } catch (const std::logic_error&) {  // invalid_argument derives from it
    caught_as_base = true;
  }
  Check(caught_as_base, "std::invalid_argument caught as std::logic_error");

  int rethrown = 0;
  try {
    try {
      throw 17;
    } catch (...) {
      throw;
    }
  } catch (int value) {
    rethrown = value;
  }
  Check(rethrown == 17, "rethrow of a non-class exception");

  std::exception_ptr saved;
  try {
    throw TestError("saved", 9);
  } catch (...) {
    saved = std::current_exception();
  }
  int restored = 0;
  try {
    std::rethrow_exception(saved);
  } catch (const TestError& e) {
    restored = e.code();
  }
  Check(restored == 9, "std::exception_ptr rethrown");
}

// ---- std::function ---------------------------------------------------------------

void TestFunction() {
  int base = 10;
  std::function<int(int)> add = [base](int x) { return base + x; };
  std::function<int(int)> copy = add;
  Check(add(5) == 15 && copy(1) == 11, "std::function holding a capturing lambda");

  std::vector<std::function<int()>> calls;
  for (int i = 0; i < 4; ++i) calls.emplace_back([i] { return i * i; });
  int sum = 0;
  for (const auto& f : calls) sum += f();
  Check(sum == 0 + 1 + 4 + 9, "vector of std::function");

  std::function<void()> thrower = [] { throw TestError("from function", 3); };
  int code = 0;
  try {
    thrower();
  } catch (const TestError& e) {
    code = e.code();
  }
  Check(code == 3, "exception out of std::function");

  std::function<void()> empty;
  bool bad_call = false;
  try {
    empty();
  } catch (const std::bad_function_call&) {
    bad_call = true;
  }
  Check(bad_call, "std::bad_function_call from an empty std::function");
}

// ---- containers and strings ------------------------------------------------------

void TestContainers() {
  std::map<std::string, int> ordered;
  for (const char* word : {"delta", "alpha", "charlie", "bravo"})
    ordered[word] = static_cast<int>(std::string_view(word).size());
  std::string keys;
  for (const auto& [key, value] : ordered) keys += key.substr(0, 1);
  Check(keys == "abcd" && ordered.at("charlie") == 7, "std::map order and lookup");

  std::unordered_map<std::string, int> counts;
  std::string text = "the quick brown fox jumps over the lazy dog the end";
  std::istringstream words(text);
  for (std::string w; words >> w;) ++counts[w];
  Check(counts.size() == 9 && counts["the"] == 3, "std::unordered_map word count");

  std::string s(1000, 'x');  // past the small-string buffer
  s += "tail";
  s.replace(0, 3, "abc");
  Check(s.size() == 1004 && s.starts_with("abcx") && s.ends_with("xtail") &&
            s.find("tail") == 1000,
        "std::string growth and search");

  auto shared = std::make_shared<std::string>("shared");
  std::weak_ptr<std::string> weak = shared;
  auto unique = std::make_unique<std::vector<int>>(3, 5);
  Check(weak.lock() && *weak.lock() == "shared" && unique->size() == 3,
        "std::shared_ptr, std::weak_ptr, std::unique_ptr");
}

// ---- std::expected ------------------------------------------------------------------

enum class ParseError { kEmpty, kNotDigit };

std::expected<int, ParseError> ParseDigits(std::string_view text) {
  if (text.empty()) return std::unexpected(ParseError::kEmpty);
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::unexpected(ParseError::kNotDigit);
    value = value * 10 + (c - '0');
  }
  return value;
}

void TestExpected() {
  auto good = ParseDigits("1234");
  auto empty = ParseDigits("");
  auto bad = ParseDigits("12a");
  Check(good.has_value() && *good == 1234, "std::expected value");
  Check(!empty && empty.error() == ParseError::kEmpty && !bad &&
            bad.error() == ParseError::kNotDigit,
        "std::expected error");
  Check(bad.value_or(-1) == -1, "std::expected::value_or");

  bool threw = false;
  try {
    (void)bad.value();
  } catch (const std::bad_expected_access<ParseError>& e) {
    threw = e.error() == ParseError::kNotDigit;
  }
  Check(threw, "std::bad_expected_access from value() on an error");
}

// ---- threads --------------------------------------------------------------------------

thread_local int t_calls = 0;

int& LazySingleton(std::atomic<int>& constructions) {
  static int value = [&] {
    constructions.fetch_add(1);
    return 99;
  }();
  return value;
}

void TestThreads() {
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  std::mutex mutex;
  long counter = 0;  // guarded by mutex
  std::atomic<int> constructions{0};
  std::atomic<int> singleton_sum{0};
  std::atomic<int> tls_ok{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIterations; ++i) {
        std::lock_guard lock(mutex);
        ++counter;
      }
      singleton_sum += LazySingleton(constructions);
      for (int i = 0; i < 10; ++i) ++t_calls;
      if (t_calls == 10) ++tls_ok;
    });
  }
  for (auto& thread : threads) thread.join();

  Check(counter == long{kThreads} * kIterations, "std::thread + std::mutex counter");
  Check(constructions == 1 && singleton_sum == kThreads * 99,
        "function-local static initialized once across threads");
  Check(tls_ok == kThreads && t_calls == 0, "thread_local is per thread");

  std::exception_ptr from_thread;
  std::thread worker([&] {
    try {
      throw TestError("in thread", 5);
    } catch (...) {
      from_thread = std::current_exception();
    }
  });
  worker.join();
  int code = 0;
  try {
    if (from_thread) std::rethrow_exception(from_thread);
  } catch (const TestError& e) {
    code = e.code();
  }
  Check(code == 5, "exception thrown and caught in a std::thread");
}

// ---- iostreams ---------------------------------------------------------------------------

void TestIostreams() {
  std::ostringstream out;
  out << "0x" << std::hex << 42 << '|' << std::dec << std::setw(3) << 7 << '|'
      << std::fixed << std::setprecision(2) << 3.14159;
  Check(out.str() == "0x2a|  7|3.14", "std::ostringstream formatting");

  std::istringstream in("12 34.5 word");
  int i = 0;
  double d = 0;
  std::string w;
  in >> i >> d >> w;
  Check(i == 12 && d == 34.5 && w == "word", "std::istringstream parsing");

  std::cout << "iostream output to stdout" << std::endl;
  Check(std::cout.good(), "std::cout writes");
}

// ---- std::span --------------------------------------------------------------------------

int Sum(std::span<const int> values) { return std::accumulate(values.begin(), values.end(), 0); }

void TestSpan() {
  int array[] = {1, 2, 3, 4, 5, 6};
  std::span<int> all(array);
  std::span<int, 2> fixed = all.subspan<1, 2>();
  Check(Sum(all) == 21 && Sum(all.first(3)) == 6 && Sum(all.last(2)) == 11,
        "std::span first/last/sum");
  fixed[0] = 20;  // writes through to the array
  Check(array[1] == 20 && fixed.size() == 2, "fixed-extent std::span writes through");
  std::vector<std::uint32_t> words(4);
  Check(std::as_bytes(std::span(words)).size() == 16, "std::as_bytes");
}

// ---- C headers in C++ ---------------------------------------------------------------
// <stdlib.h> must be libstdc++'s wrapper, which adds the std::abs overloads to
// the global namespace; musl's own header (if it came first in the search
// path) declares only int abs(int).

void TestCHeaders() {
  volatile double x = -1.5;  // not a constant: g++ would fold abs(-1.5) itself
  volatile long y = -7;
  Check(::abs(x) == 1.5 && ::abs(y) == 7L, "libstdc++'s <stdlib.h> ahead of musl's");
}

}  // namespace

int main() {
  TestCHeaders();
  TestStaticInit();
  TestExceptions();
  TestFunction();
  TestContainers();
  TestExpected();
  TestThreads();
  TestIostreams();
  TestSpan();
  if (g_failures != 0) {
    std::cout << g_failures << " check(s) FAILED\n";
    return 1;
  }
  std::cout << "all checks passed\n";
  return 0;
}
