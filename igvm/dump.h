// Human and JSON views of an IgvmFile for `igvmtool dump`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "file.h"

namespace igvm {

nlohmann::json DumpJson(const IgvmFile& file);
std::string DumpText(const IgvmFile& file);

}  // namespace igvm
