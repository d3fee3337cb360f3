#include "devices/uart16550.h"

namespace devices {
namespace {

// Register offsets (PC16550D register summary).
constexpr uint16_t kRbrThrDll = 0, kIerDlm = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5,
                   kMsr = 6, kScr = 7;
// IER bits.
constexpr uint8_t kIerRxData = 0x01, kIerThre = 0x02, kIerLineStatus = 0x04;
// IIR interrupt identification, highest priority first.
constexpr uint8_t kIirLineStatus = 0x06, kIirRxData = 0x04, kIirThre = 0x02;
constexpr uint8_t kIirFifosEnabled = 0xC0;
// LSR bits.
constexpr uint8_t kLsrDataReady = 0x01, kLsrOverrun = 0x02, kLsrThre = 0x20, kLsrTemt = 0x40;
// FCR bits.
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;

}  // namespace

IoResult Uart16550::Read(uint16_t offset, std::span<std::byte> data) {
  if (offset >= kRegisterCount) return IoResult::kBadRegister;
  if (data.size() != 1) return IoResult::kBadSize;
  data[0] = std::byte{ReadRegister(offset)};
  return IoResult::kOk;
}

IoResult Uart16550::Write(uint16_t offset, std::span<const std::byte> data) {
  if (offset >= kRegisterCount) return IoResult::kBadRegister;
  if (data.size() != 1) return IoResult::kBadSize;
  WriteRegister(offset, static_cast<uint8_t>(data[0]));
  return IoResult::kOk;
}

bool Uart16550::Receive(uint8_t byte) {
  if (rx_fifo_.size() >= kFifoBytes) {
    overrun_ = true;
    UpdateIrq();
    return false;
  }
  rx_fifo_.push_back(byte);
  UpdateIrq();
  return true;
}

bool Uart16550::irq_level() const {
  constexpr uint8_t kMcrOut2 = 0x08;
  return interrupt_pending() && (mcr_ & kMcrOut2) != 0 && !loopback();
}

void Uart16550::ConnectIrq(IrqLine& line) {
  irq_ = &line;
  irq_driven_ = irq_level();
  irq_->Set(irq_driven_);
}

void Uart16550::UpdateIrq() {
  if (irq_ == nullptr) return;
  const bool level = irq_level();
  if (level == irq_driven_) return;
  irq_driven_ = level;
  irq_->Set(level);
}

uint8_t Uart16550::InterruptId() const {
  if ((ier_ & kIerLineStatus) != 0 && overrun_) return kIirLineStatus;
  if ((ier_ & kIerRxData) != 0 && !rx_fifo_.empty()) return kIirRxData;
  if ((ier_ & kIerThre) != 0 && thre_pending_) return kIirThre;
  return kIirNoInterrupt;
}

uint8_t Uart16550::LineStatus() const {
  uint8_t lsr = kLsrThre | kLsrTemt;
  if (!rx_fifo_.empty()) lsr |= kLsrDataReady;
  if (overrun_) lsr |= kLsrOverrun;
  return lsr;
}

uint8_t Uart16550::ModemStatus() const {
  if (loopback()) {
    // Loopback (datasheet, MCR bit 4): CTS <- RTS, DSR <- DTR, RI <- OUT1,
    // DCD <- OUT2, in MSR bits 4-7.
    const uint8_t dtr = mcr_ & 0x01, rts = (mcr_ >> 1) & 1, out1 = (mcr_ >> 2) & 1,
                  out2 = (mcr_ >> 3) & 1;
    return static_cast<uint8_t>((rts << 4) | (dtr << 5) | (out1 << 6) | (out2 << 7));
  }
  return 0xB0;  // DCD, DSR, CTS: a cable with someone listening
}

void Uart16550::Transmit(uint8_t byte) {
  if (loopback()) {
    Receive(byte);
  } else {
    output_.Put(byte);
  }
  thre_pending_ = true;  // sent at once: the holding register is empty again
}

uint8_t Uart16550::ReadRegister(uint16_t offset) {
  const uint8_t value = ReadRegisterNoIrq(offset);
  UpdateIrq();
  return value;
}

void Uart16550::WriteRegister(uint16_t offset, uint8_t value) {
  WriteRegisterNoIrq(offset, value);
  UpdateIrq();
}

uint8_t Uart16550::ReadRegisterNoIrq(uint16_t offset) {
  switch (offset) {
    case kRbrThrDll: {
      if (dlab()) return dll_;
      if (rx_fifo_.empty()) return 0;
      const uint8_t byte = rx_fifo_.front();
      rx_fifo_.pop_front();
      return byte;
    }
    case kIerDlm:
      return dlab() ? dlm_ : ier_;
    case kIirFcr: {
      const uint8_t id = InterruptId();
      // Reading IIR while it reports THRE clears that interrupt.
      if (id == kIirThre) thre_pending_ = false;
      return static_cast<uint8_t>(id | ((fcr_ & kFcrEnable) != 0 ? kIirFifosEnabled : 0));
    }
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr: {
      const uint8_t lsr = LineStatus();
      overrun_ = false;  // error bits clear on read
      return lsr;
    }
    case kMsr:
      return ModemStatus();
    case kScr:
      return scr_;
    default:
      return 0xFF;
  }
}

void Uart16550::WriteRegisterNoIrq(uint16_t offset, uint8_t value) {
  switch (offset) {
    case kRbrThrDll:
      if (dlab()) {
        dll_ = value;
      } else {
        Transmit(value);
      }
      return;
    case kIerDlm:
      if (dlab()) {
        dlm_ = value;
        return;
      }
      // Enabling the THRE interrupt with the holding register empty raises it.
      if ((value & kIerThre) != 0 && (ier_ & kIerThre) == 0) thre_pending_ = true;
      ier_ = value & 0x0F;
      return;
    case kIirFcr:
      fcr_ = value & kFcrEnable;
      if ((value & kFcrClearRx) != 0) rx_fifo_.clear();
      return;
    case kLcr:
      lcr_ = value;
      return;
    case kMcr:
      mcr_ = value & 0x1F;
      return;
    case kLsr:
    case kMsr:
      return;  // read-only here (factory test registers on real parts)
    case kScr:
      scr_ = value;
      return;
    default:
      return;
  }
}

}  // namespace devices
