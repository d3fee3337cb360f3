// Counts what operator new hands out on this thread while an
// AllocationCounter lives, so tests can bound what a parser allocates
// (reader.h: "no allocation larger than what the file pays for") by bytes,
// not by timing. Linking allocation_counter.cpp replaces the global
// operator new/delete of the whole program (the unit-test binary): outside
// a counter they only forward to malloc/free.
#pragma once

#include <cstddef>

namespace igvm::testing {

class AllocationCounter {
 public:
  AllocationCounter();
  ~AllocationCounter();
  AllocationCounter(const AllocationCounter&) = delete;
  AllocationCounter& operator=(const AllocationCounter&) = delete;

  size_t bytes() const { return bytes_; }          // requested, in total
  size_t allocations() const { return allocations_; }

  // Called by the replaced operator new.
  static void Record(size_t size);

 private:
  AllocationCounter* outer_;
  size_t bytes_ = 0;
  size_t allocations_ = 0;
};

}  // namespace igvm::testing
