// Ioctl: ioctl(2) on an owned descriptor, retried on EINTR, with errno
// turned into an Error naming the request. The one wrapper for KVM
// (loader/kvm), the mshv_vtl driver (hcl) and the KVM probe.
//
// Not for a call where EINTR is the answer: KVM_RUN returns EINTR when a
// signal asks the vCPU to stop (kvm::Vcpu::Run calls ioctl(2) itself).
#pragma once

#include <sys/ioctl.h>

#include <cerrno>
#include <string_view>

#include "base/result.h"
#include "os/unique_fd.h"

namespace os {
namespace internal {

// glibc declares ioctl(int, unsigned long, ...), musl ioctl(int, int, ...):
// the request goes as whichever the C library takes (Linux request numbers
// fit in 32 bits).
template <typename Function>
struct IoctlRequestOf;
template <typename Request>
struct IoctlRequestOf<int (*)(int, Request, ...)> {
  using type = Request;
};
template <typename Request>
struct IoctlRequestOf<int (*)(int, Request, ...) noexcept> {
  using type = Request;
};
using IoctlRequest = IoctlRequestOf<decltype(&::ioctl)>::type;

}  // namespace internal

template <typename Arg>
base::Result<int> Ioctl(const UniqueFd& fd, unsigned long request, Arg arg,
                        std::string_view what) {
  int ret;
  do {
    ret = ::ioctl(fd.get(), static_cast<internal::IoctlRequest>(request), arg);
  } while (ret < 0 && errno == EINTR);
  if (ret < 0) return base::Error::FromErrno(what, errno);
  return ret;
}

}  // namespace os
