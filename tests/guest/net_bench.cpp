// vtl0-net-bench: the guest's side of the network benchmark
// (tests/bench/network/network-bench, vtl0.test=net-bench in vtl0-init):
// one TCP connection, accepted in VTL0.
//
//   vtl0-net-bench sink PORT          read until the peer's EOF, discard
//   vtl0-net-bench source PORT BYTES  send BYTES (random, drawn once), shut
//                                     the sending half, read to the peer's EOF
//   vtl0-net-bench echo PORT          TCP_NODELAY; write every byte read
//                                     straight back, until the peer's EOF
//
// Each listens on PORT (IPv4, any address), accepts one connection, and
// ends with one line on stdout, "bytes=N calls=C" (bytes read, or for
// source sent, in C read or write calls), exit 0. The whole run is bounded
// by 240 s (alarm: exit by SIGALRM). Reads and writes are 64 KiB at most:
// busybox nc moves 1 KiB a call, so each of its writes became a frame of
// its own and the figure measured nc rather than the path; and nc buffers,
// so it cannot time one-byte round trips.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

constexpr size_t kChunk = 65536;
constexpr unsigned kAlarmSeconds = 240;

int Fail(const char* what) {
  std::fprintf(stderr, "vtl0-net-bench: %s: errno %d\n", what, errno);
  return 1;
}

// The accepted connection on PORT, or -1 (errno set).
int AcceptOne(long port) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) return -1;
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      listen(listener, 1) != 0) {
    close(listener);
    return -1;
  }
  int fd;
  do fd = accept(listener, nullptr, nullptr);
  while (fd < 0 && errno == EINTR);
  close(listener);
  return fd;
}

// Reads until EOF; write_back: echo each read. Bytes read, or -1.
long long Drain(int fd, bool write_back, unsigned long long& calls) {
  std::vector<char> buffer(kChunk);
  long long bytes = 0;
  for (;;) {
    const ssize_t got = read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) return bytes;
    ++calls;
    bytes += got;
    for (ssize_t done = 0; write_back && done < got;) {
      const ssize_t put = write(fd, buffer.data() + done, static_cast<size_t>(got - done));
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) return -1;
      done += put;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  const bool source = mode == "source";
  if (!(argc == 3 && (mode == "sink" || mode == "echo")) && !(argc == 4 && source)) {
    std::fprintf(stderr, "usage: vtl0-net-bench sink|echo PORT, vtl0-net-bench source PORT BYTES\n");
    return 2;
  }
  const long port = std::strtol(argv[2], nullptr, 10);
  const long long total = source ? std::strtoll(argv[3], nullptr, 10) : 0;
  if (port <= 0 || port > 65535 || total < 0) {
    std::fprintf(stderr, "vtl0-net-bench: PORT 1..65535, BYTES >= 0\n");
    return 2;
  }
  alarm(kAlarmSeconds);
  std::vector<char> data;
  if (source) {
    // Random bytes, drawn before the host connects: nothing on the way
    // compresses, and the draw is not timed.
    data.resize(kChunk);
    FILE* random = std::fopen("/dev/urandom", "rb");
    if (random == nullptr || std::fread(data.data(), 1, data.size(), random) != data.size())
      return Fail("/dev/urandom");
    std::fclose(random);
  }
  const int fd = AcceptOne(port);
  if (fd < 0) return Fail("listen/accept");
  unsigned long long calls = 0;
  long long bytes = 0;
  if (mode == "echo") {
    const int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
      return Fail("TCP_NODELAY");
  }
  if (source) {
    while (bytes < total) {
      const size_t want = static_cast<size_t>(std::min<long long>(total - bytes, kChunk));
      const ssize_t put = write(fd, data.data(), want);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) return Fail("write");
      ++calls;
      bytes += put;
    }
    // The host reads to EOF, then closes: the last byte has arrived when
    // its EOF does.
    if (shutdown(fd, SHUT_WR) != 0) return Fail("shutdown");
    unsigned long long ignored = 0;
    if (Drain(fd, false, ignored) < 0) return Fail("read");
  } else {
    bytes = Drain(fd, mode == "echo", calls);
    if (bytes < 0) return Fail(mode == "echo" ? "echo" : "read");
  }
  close(fd);
  std::printf("bytes=%lld calls=%llu\n", bytes, calls);
  return 0;
}
