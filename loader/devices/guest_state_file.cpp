#include "devices/guest_state_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "os/unique_fd.h"

namespace loader::devices {

base::Result<bool> PrepareGuestStateFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) < kGuestStateBytes)
      return base::Error::Format(
          "--guest-state %s: %llu bytes, a guest state is at least %llu (truncated?)", path.c_str(),
          static_cast<unsigned long long>(st.st_size),
          static_cast<unsigned long long>(kGuestStateBytes));
    return false;
  }
  if (errno != ENOENT) return base::Error::FromErrno("--guest-state " + path, errno);
  os::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return base::Error::FromErrno("--guest-state " + path + ": create", errno);
  if (::ftruncate(fd.get(), static_cast<off_t>(kGuestStateBytes)) != 0 || ::fsync(fd.get()) != 0)
    return base::Error::FromErrno("--guest-state " + path + ": size", errno);
  return true;
}

std::string DefaultPlatformSecretPath() {
  namespace fs = std::filesystem;
  const char* config = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  const fs::path base = config != nullptr && *config != '\0'
                            ? fs::path(config)
                            : fs::path(home != nullptr ? home : "/") / ".config";
  return (base / "hcl" / "platform-secret").string();
}

base::Result<vsm::PlatformSecret> LoadPlatformSecret(const std::string& path, bool create) {
  vsm::PlatformSecret secret{};
  os::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid() && errno == ENOENT && create) {
    std::error_code error;
    const auto dir = std::filesystem::path(path).parent_path();
    std::filesystem::create_directories(dir, error);
    if (!dir.empty()) (void)::chmod(dir.c_str(), 0700);
    if (::getrandom(secret.data(), secret.size(), 0) != static_cast<ssize_t>(secret.size()))
      return base::Error::FromErrno("--platform-secret: getrandom", errno);
    os::UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out.valid() ||
        ::write(out.get(), secret.data(), secret.size()) != static_cast<ssize_t>(secret.size()) ||
        ::fsync(out.get()) != 0)
      return base::Error::FromErrno("--platform-secret " + path + ": create", errno);
    return secret;
  }
  if (!fd.valid()) return base::Error::FromErrno("--platform-secret " + path, errno);
  uint8_t extra = 0;
  if (::read(fd.get(), secret.data(), secret.size()) != static_cast<ssize_t>(secret.size()) ||
      ::read(fd.get(), &extra, 1) != 0)
    return base::Error("--platform-secret " + path + ": not a 32-byte file");
  return secret;
}

}  // namespace loader::devices
