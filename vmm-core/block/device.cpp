#include "block/device.h"

namespace block {

const char* Describe(Status status) {
  switch (status) {
    case Status::kOk: return "ok";
    case Status::kOutOfRange: return "LBA out of range";
    case Status::kInvalid: return "invalid request";
    case Status::kWriteProtected: return "write protected";
    case Status::kMediaError: return "media error";
    case Status::kDataTransfer: return "data transfer error";
    case Status::kAborted: return "aborted";
    case Status::kDeviceFailed: return "device failed";
  }
  return "unknown status";
}

}  // namespace block
