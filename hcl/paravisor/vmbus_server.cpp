#include "paravisor/vmbus_server.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <thread>
#include <chrono>

#include "base/page.h"
#include "hv/hypercall_abi.h"
#include "paravisor/event_ports.h"

namespace hcl {
namespace {


}  // namespace

::hv::Status VmbusServer::PostMessage(const Vtl0Memory& memory, uint64_t input_gpa) {
  // TLFS "Hypercall Inputs": 8-byte aligned, within one page. The whole
  // input page is copied once, through the VTL0 gate, then validated (no
  // second read of guest memory).
  if ((input_gpa & 7) != 0 ||
      base::PageOffset(input_gpa) + sizeof(::hv::PostMessageInput) > base::kPageSize)
    return ::hv::Status::kInvalidAlignment;
  ::hv::PostMessageInput input;
  if (!memory.Read(mem::Gpa{input_gpa}, std::as_writable_bytes(std::span(&input, 1))))
    return ::hv::Status::kInvalidParameter;
  // TLFS HvCallPostMessage: payload_size <= 240, message_type > 0 with the
  // top bit clear (hypervisor types are reserved). The connection core
  // checks these again; the glue only needs the size bound.
  if (input.payload_size > ::hv::kMessagePayloadBytes) return ::hv::Status::kInvalidParameter;
  const auto bytes = std::as_bytes(std::span(input.payload)).first(input.payload_size);
  const auto& header = input;
  std::lock_guard lock(mutex_);
  const vmbus::MessageResult result = server_.OnPostMessage(
      vmbus::PostedMessage{header.connection_id, header.message_type, bytes}, outbox_);
  if (const auto connected = server_.connection()) sint_.store(connected->sint);
  if (result != vmbus::MessageResult::kOk && result != vmbus::MessageResult::kRefused)
    std::fprintf(stderr, "hcl: vmbus: message on connection %u: %s\n", header.connection_id,
                 vmbus::Describe(result));
  return vmbus::HypercallStatus(result);
}

::hv::Status VmbusServer::SignalEvent(uint64_t input) {
  // TLFS HvCallSignalEvent, fast: connection id in bits 0-31 (24 used),
  // flag number in bits 32-47; VMBus channels use flag 0 (hyperv-vmbus.md
  // §5.5).
  const auto connection_id = static_cast<uint32_t>(input);
  std::lock_guard lock(mutex_);
  const auto channel = server_.FindByConnectionId(connection_id);
  if (!channel) return ::hv::Status::kInvalidConnectionId;
  const auto device = devices_.find(channel->relid);
  if (device != devices_.end() && channel->open) device->second->OnSignal(channel->relid);
  return ::hv::Status::kSuccess;
}

base::Result<uint32_t> VmbusServer::AddChannel(const vmbus::Offer& offer, VmbusDevice& device) {
  std::lock_guard lock(mutex_);
  const uint32_t relid = TRY(server_.AddChannel(offer, ProxyForLocked(device), outbox_));
  devices_[relid] = &device;
  return relid;
}

base::Result<std::vector<uint32_t>> VmbusServer::OfferSubChannels(
    uint32_t parent, uint16_t count, VmbusDevice& device, const std::atomic<bool>& cancel) {
  // The channel server's lock may be held by a close of this very channel,
  // which waits for the calling thread: give up then instead of waiting.
  std::unique_lock lock(mutex_, std::defer_lock);
  while (!lock.try_lock()) {
    if (cancel.load(std::memory_order_acquire)) return base::Error("channel closing");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto relids = TRY(server_.OfferSubChannels(parent, count, outbox_));
  for (uint32_t relid : relids) devices_[relid] = &device;
  return relids;
}

base::Result<vmbus::Gpadl> VmbusServer::FindGpadl(uint32_t relid, uint32_t gpadl_id,
                                                  const std::atomic<bool>& cancel) {
  std::unique_lock lock(mutex_, std::defer_lock);
  while (!lock.try_lock()) {
    if (cancel.load(std::memory_order_acquire)) return base::Error("channel closing");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const vmbus::Gpadl* gpadl = server_.FindGpadl(relid, gpadl_id);
  if (gpadl == nullptr)
    return base::Error::Format("GPADL %u is not one of channel %u's", gpadl_id, relid);
  return *gpadl;
}

VmbusServer::~VmbusServer() {
  if (!listener_.joinable()) return;
  const uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof one);
  listener_.join();
}

VmbusServer::Proxy& VmbusServer::ProxyForLocked(VmbusDevice& device) {
  auto& proxy = proxies_[&device];
  if (!proxy) proxy = std::make_unique<Proxy>(*this, device);
  return *proxy;
}

uint32_t VmbusServer::Proxy::OnOpen(const vmbus::OpenRequest& request) {
  const uint32_t status = device_.OnOpen(request);
  if (status == vmbus::wire::kStatusSuccess) server_.ConnectEventsLocked(request, device_);
  return status;
}

void VmbusServer::Proxy::OnClose(uint32_t relid) {
  server_.DisconnectEventsLocked(relid);
  device_.OnClose(relid);
}

base::Result<void> VmbusServer::StartListenerLocked() {
  if (epoll_.valid()) return base::Ok();
  os::UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.valid()) return base::Error::FromErrno("epoll_create1", errno);
  os::UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
  if (!stop.valid()) return base::Error::FromErrno("eventfd", errno);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u32 = 0;  // relid 0 is never a channel's
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, stop.get(), &event) != 0)
    return base::Error::FromErrno("epoll_ctl", errno);
  epoll_ = std::move(epoll);
  stop_ = std::move(stop);
  listener_ = std::thread([this] { Listen(); });
  return base::Ok();
}

void VmbusServer::ConnectEventsLocked(const vmbus::OpenRequest& request, VmbusDevice& device) {
  // Per I/O, an event port saves the VTL0 intercept (the loader's message,
  // hcl's emulation, SetVpRegisters to move VTL0's RIP); signalling the
  // device's own eventfd also saves a thread hop.
  if (ports_unsupported_) return;
  const int device_fd = device.SignalFd(request.relid);
  os::UniqueFd fd;
  if (device_fd < 0) {
    if (auto started = StartListenerLocked(); !started) {
      std::fprintf(stderr, "hcl: vmbus: event listener: %s\n", started.error().message().c_str());
      ports_unsupported_ = true;
      return;
    }
    fd = os::UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd.valid()) return;
  }
  // One port per channel: flag = relid (< 2048, unique across ports as the
  // driver's eventfd table wants), port id outside the connection ids.
  const uint32_t port_id = 0x20000u | request.relid;
  const auto flag = static_cast<uint16_t>(request.relid);
  auto connected = ConnectEventPort(mshv_, request.connection_id, port_id, flag,
                                    request.target_vp, device_fd >= 0 ? device_fd : fd.get());
  if (!connected) {
    // Signals keep arriving as SignalEvent intercepts.
    std::fprintf(stderr, "hcl: vmbus: channel %u: no event port (%s): signals by intercept\n",
                 request.relid, connected.error().message().c_str());
    ports_unsupported_ = true;
    return;
  }
  if (fd.valid()) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = request.relid;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &event) != 0) {
      DisconnectEventPort(mshv_, request.connection_id, port_id, flag);
      return;
    }
  }
  ports_[request.relid] = EventPort{std::move(fd), request.connection_id, port_id};
}

void VmbusServer::DisconnectEventsLocked(uint32_t relid) {
  const auto it = ports_.find(relid);
  if (it == ports_.end()) return;
  if (it->second.fd.valid()) (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.fd.get(), nullptr);
  DisconnectEventPort(mshv_, it->second.connection_id, it->second.port_id,
                      static_cast<uint16_t>(relid));
  ports_.erase(it);
}

void VmbusServer::Listen() {
  for (;;) {
    epoll_event events[16];
    const int count = ::epoll_wait(epoll_.get(), events, 16, -1);
    if (count < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "hcl: vmbus: epoll_wait: %s\n", std::strerror(errno));
      return;
    }
    for (int i = 0; i < count; ++i) {
      const uint32_t relid = events[i].data.u32;
      if (relid == 0) return;  // the destructor's stop
      std::lock_guard lock(mutex_);
      const auto port = ports_.find(relid);
      if (port == ports_.end()) continue;  // closed meanwhile
      uint64_t counter = 0;
      (void)!::read(port->second.fd.get(), &counter, sizeof counter);
      const auto device = devices_.find(relid);
      if (device != devices_.end()) device->second->OnSignal(relid);
    }
  }
}

void VmbusServer::InterruptGuest(uint32_t relid, uint32_t target_vp) {
  // hyperv-vmbus.md §5.5: bit relid in SIEF area msg_sint of target_vp;
  // the hypervisor raises the SINT if the bit was newly set.
  ::hv::SignalEventDirectInput input;
  input.vp_index = target_vp;
  input.vtl = 0;
  input.sint = sint_.load();
  input.flag_number = static_cast<uint16_t>(relid);
  ::hv::SignalEventDirectOutput output;
  auto status = mshv_.Hypercall(static_cast<uint64_t>(::hv::CallCode::kSignalEventDirect),
                                std::as_bytes(std::span(&input, 1)),
                                std::as_writable_bytes(std::span(&output, 1)));
  if (!status || *status != ::hv::Status::kSuccess)
    std::fprintf(stderr, "hcl: vmbus: channel %u: interrupt to VP %u failed (status %#x)\n",
                 relid, target_vp, status ? static_cast<unsigned>(*status) : 0xFFFFu);
}

void VmbusServer::DirectOutbox::Send(const vmbus::OutgoingMessage& message) {
  // HvCallPostMessageDirect (hv/hypercall_abi.h) into VTL0's SINT.
  ::hv::PostMessageDirectInput input;
  input.vp_index = message.target_vp;
  input.vtl = 0;
  input.sint = message.sint;
  ::hv::MessageHeader header;
  header.type = message.message_type;
  header.payload_size = static_cast<uint8_t>(message.size_bytes);
  const auto payload = message.payload();
  const auto out = std::as_writable_bytes(std::span(input.message));
  std::memcpy(out.data(), &header, sizeof header);
  std::memcpy(out.data() + sizeof header, payload.data(),
              std::min(payload.size(), out.size() - sizeof header));
  auto status = mshv_.Hypercall(static_cast<uint64_t>(::hv::CallCode::kPostMessageDirect),
                                std::as_bytes(std::span(&input, 1)), {});
  if (!status || *status != ::hv::Status::kSuccess)
    std::fprintf(stderr, "hcl: vmbus: reply to VP %u not delivered (status %#x)\n",
                 message.target_vp, status ? static_cast<unsigned>(*status) : 0xFFFFu);
}

}  // namespace hcl
