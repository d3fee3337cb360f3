#include "allocation_counter.h"

#include <cstdlib>
#include <new>

namespace igvm::testing {
namespace {

thread_local AllocationCounter* active = nullptr;

}  // namespace

AllocationCounter::AllocationCounter() : outer_(active) { active = this; }
AllocationCounter::~AllocationCounter() { active = outer_; }

void AllocationCounter::Record(size_t size) {
  for (AllocationCounter* counter = active; counter != nullptr; counter = counter->outer_) {
    counter->bytes_ += size;
    ++counter->allocations_;
  }
}

}  // namespace igvm::testing

// The replaceable global allocation functions ([new.delete.single]); the
// array, nothrow and sized forms of libstdc++ forward to these two.
void* operator new(std::size_t size) {
  igvm::testing::AllocationCounter::Record(size);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
