#include "vsm/io_instruction.h"

#include <variant>

#include "x86emu/decoder.h"

namespace loader::vsm {

std::optional<IoInstructionForm> DecodeIoInstruction(std::span<const std::byte> bytes,
                                                     x86emu::CpuMode mode) {
  const auto decoded = x86emu::Decode(bytes, mode);
  if (!decoded) return std::nullopt;
  const auto* insn = std::get_if<x86emu::Instruction>(&*decoded);
  if (insn == nullptr) return std::nullopt;
  using x86emu::Op;
  if (insn->op != Op::kIn && insn->op != Op::kOut && insn->op != Op::kIns && insn->op != Op::kOuts)
    return std::nullopt;
  IoInstructionForm form;
  form.string = insn->form == x86emu::Form::kString;
  // REP (or REPNE, which repeats INS/OUTS the same way) means nothing to IN/OUT.
  form.rep = form.string && insn->rep != x86emu::RepPrefix::kNone;
  form.in = insn->op == Op::kIn || insn->op == Op::kIns;
  form.operand_bytes = insn->operand_size;
  if (insn->form == x86emu::Form::kPortImm)
    form.immediate_port = static_cast<uint8_t>(insn->immediate);
  form.length = insn->length;
  return form;
}

std::optional<uint8_t> DeferrableIoLength(std::span<const std::byte> code,
                                          std::optional<std::byte> before, x86emu::CpuMode mode,
                                          const IoExitFacts& exit) {
  return DeferrableIoLength(DecodeIoInstruction(code, mode), before, exit);
}

std::optional<uint8_t> DeferrableIoLength(const std::optional<IoInstructionForm>& form,
                                          std::optional<std::byte> before,
                                          const IoExitFacts& exit) {
  constexpr uint16_t kQuirkPort = 0x7E;
  if (exit.count != 1 || exit.port == kQuirkPort || !before) return std::nullopt;
  const auto previous = std::to_integer<uint8_t>(*before);
  if (previous == 0x6E || previous == 0x6F) return std::nullopt;  // maybe after an OUTS
  if (!form || form->string || form->in != exit.in || form->operand_bytes != exit.size)
    return std::nullopt;
  const uint16_t port = form->immediate_port ? *form->immediate_port : exit.dx;
  if (port != exit.port) return std::nullopt;
  return form->length;
}

}  // namespace loader::vsm
