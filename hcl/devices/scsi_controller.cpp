#include "devices/scsi_controller.h"

#include <chrono>
#include <cstdio>
#include <thread>

namespace hcl {
namespace {

// hyperv-vmbus.md §5.2: SCSI ba6163d9-04a1-4d29-b605-72e2ffb1dc7f, as its
// wire bytes.
constexpr vmbus::wire::Guid kScsiInterfaceType{{0xd9, 0x63, 0x61, 0xba, 0xa1, 0x04, 0x29, 0x4d,
                                                0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f}};
// How long a close waits for SRBs in flight (the NVMe driver's own
// timeouts and retries end every request well before this).
constexpr auto kDrainLimit = std::chrono::seconds(60);
// VMBus status for OpenChannelResult failures (STATUS_UNSUCCESSFUL).
constexpr uint32_t kOpenFailed = 0xC0000001;

}  // namespace

base::Result<std::unique_ptr<ScsiController>> ScsiController::Create(VmbusServer& server,
                                                                     Vtl0Memory& memory,
                                                                     block::Device& disk,
                                                                     uint32_t vp_count,
                                                                     uint8_t instance_id) {
  auto controller =
      std::unique_ptr<ScsiController>(new ScsiController(server, memory, disk, vp_count));
  vmbus::Offer offer;
  offer.interface_type = kScsiInterfaceType;
  // An instance GUID of hcl's own: "hcl" in Data1, the controller's number last.
  offer.interface_instance = {{'h', 'c', 'l', 0x00, 0x5c, 0x51, 0x00, 0x40, 0x80, 0x00, 0x00,
                               0x00, 0x00, 0x00, 0x00, instance_id}};
  controller->primary_relid_ = TRY(server.AddChannel(offer, *controller));
  return controller;
}

ScsiController::~ScsiController() {
  for (auto& [relid, channel] : open_.TakeAll()) channel->rings->Stop();
}

uint32_t ScsiController::OnOpen(const vmbus::OpenRequest& request) {
  auto open = std::make_unique<Open>();
  open->owner = this;
  if (!OpenRings(*open, memory_, server_, request, "storvsp")) return kOpenFailed;
  Open* raw = open.get();
  open->rings->set_poll_limit(poll_limit_.load());
  storvsp::Config config;
  // One sub-channel per VP beyond the first (Linux asks for what it can use).
  config.max_sub_channels = static_cast<uint16_t>(vp_count_ > 1 ? vp_count_ - 1 : 0);
  config.queue_hint = request.target_vp;
  if (request.sub_channel_index == 0) {
    open->protocol = std::make_unique<storvsp::Channel>(config, &disk_, buffer_, *open);
  } else {
    open->protocol = std::make_unique<storvsp::Channel>(
        config, &disk_, buffer_, *open, storvsp::Channel::SubChannelOf{version_.load()});
  }
  // One pass over the ring is one batch for the disk (block::Device::Plug):
  // an NVMe doorbell per pass, not per SRB.
  open->rings->Start([this, raw](const vmbus::IncomingPacket& packet) { Handle(*raw, packet); },
                     [raw] { return raw->protocol->unanswered() != 0; },
                     [this, raw] {
                       if (!raw->plugged) return;
                       raw->plugged = false;
                       gated_.Unplug();
                     });
  open_.Add(request.relid, std::move(open));
  return vmbus::wire::kStatusSuccess;
}

void ScsiController::Handle(Open& open, const vmbus::IncomingPacket& packet) {
  if (!open.plugged) {
    gated_.Plug();
    open.plugged = true;
  }
  const storvsp::Handled handled = open.protocol->OnPacket(packet);
  if (open.relid == primary_relid_) {
    if (const auto version = open.protocol->version()) version_.store(*version);
  }
  if (handled.result != storvsp::PacketResult::kOk &&
      handled.result != storvsp::PacketResult::kIgnored &&
      handled.result != storvsp::PacketResult::kVersionRefused &&
      handled.result != storvsp::PacketResult::kInvalidLun) {
    const std::lock_guard lock(log_mutex_);
    log_.Print("hcl: storvsp: ", "channel %u: %s", open.relid, storvsp::Describe(handled.result));
  }
  if (handled.offer_sub_channels != 0) {
    auto offered = server_.OfferSubChannels(open.relid, handled.offer_sub_channels, *this,
                                            open.rings->stopping());
    if (!offered)
      std::fprintf(stderr, "hcl: storvsp: sub-channels: %s\n", offered.error().message().c_str());
  }
}

void ScsiController::OnClose(uint32_t relid) {
  std::unique_ptr<Open> open = open_.Remove(relid);
  if (!open) return;
  // No ring access after this; SRBs still in flight complete into a
  // stopped ring (dropped), and must finish before the objects go.
  open->rings->Stop();
  const auto deadline = std::chrono::steady_clock::now() + kDrainLimit;
  while (open->protocol->in_flight() != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (open->protocol->in_flight() != 0) {
    std::fprintf(stderr, "hcl: storvsp: channel %u closed with %u SRBs in flight\n", relid,
                 open->protocol->in_flight());
    const std::lock_guard lock(mutex_);
    abandoned_.push_back(std::move(open));
  }
}

void ScsiController::OnModify(uint32_t relid, uint32_t target_vp) { open_.Modify(relid, target_vp); }
void ScsiController::OnSignal(uint32_t relid) { open_.Signal(relid); }
int ScsiController::SignalFd(uint32_t relid) { return open_.SignalFd(relid); }

}  // namespace hcl
