// Ioctl: ioctl(2) with errno turned into an Error naming the request.
#pragma once

#include <sys/ioctl.h>

#include <cerrno>
#include <string_view>

#include "base/result.h"
#include "os/unique_fd.h"

namespace kvm {

template <typename Arg>
base::Result<int> Ioctl(const os::UniqueFd& fd, unsigned long request, Arg arg,
                        std::string_view what) {
  int ret;
  do {
    ret = ::ioctl(fd.get(), request, arg);
  } while (ret < 0 && errno == EINTR);
  if (ret < 0) return base::Error::FromErrno(what, errno);
  return ret;
}

}  // namespace kvm
