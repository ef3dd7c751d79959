// formats.cpp — the table of quantized formats the API offers (facts in shaders/common).
#include "lowbit_formats.h"

#include "lowbit/lowbit.hpp"

namespace lowbit {

const std::vector<FormatInfo>& all_formats() {
  static const std::vector<FormatInfo> table = {
      {Format::E4M3, "e4m3", LB_FMT_E4M3, 8, 0, ScaleKind::None, false},
      {Format::E5M2, "e5m2", LB_FMT_E5M2, 8, 0, ScaleKind::None, false},
      {Format::E4M3FNUZ, "e4m3fnuz", LB_FMT_E4M3FNUZ, 8, 0, ScaleKind::None, false},
      {Format::E5M2FNUZ, "e5m2fnuz", LB_FMT_E5M2FNUZ, 8, 0, ScaleKind::None, false},
      {Format::MXFP8_E4M3, "mxfp8_e4m3", LB_FMT_E4M3, 8, LB_MX_BLOCK, ScaleKind::E8M0, false},
      {Format::MXFP8_E5M2, "mxfp8_e5m2", LB_FMT_E5M2, 8, LB_MX_BLOCK, ScaleKind::E8M0, false},
      {Format::MXFP6_E3M2, "mxfp6_e3m2", LB_FMT_E3M2, 6, LB_MX_BLOCK, ScaleKind::E8M0, false},
      {Format::MXFP6_E2M3, "mxfp6_e2m3", LB_FMT_E2M3, 6, LB_MX_BLOCK, ScaleKind::E8M0, false},
      {Format::MXFP4, "mxfp4", LB_FMT_E2M1, 4, LB_MX_BLOCK, ScaleKind::E8M0, false},
      {Format::MXINT8, "mxint8", LB_FMT_INT8, 8, LB_MX_BLOCK, ScaleKind::E8M0, false},
      {Format::NVFP4, "nvfp4", LB_FMT_E2M1, 4, LB_NVFP4_BLOCK, ScaleKind::E4M3, true},
  };
  return table;
}

const FormatInfo& format_info(Format f) { return all_formats().at(static_cast<size_t>(f)); }

Format parse_format(const std::string& name) {
  std::string known;
  for (const auto& fi : all_formats()) {
    if (name == fi.name) return fi.format;
    known += (known.empty() ? "" : ", ") + std::string(fi.name);
  }
  throw Error(ErrorCode::InvalidArgument, "unknown format '" + name + "' (expected one of: " + known + ")");
}

uint64_t packed_row_bytes(Format f, uint64_t n) {
  int bits = format_info(f).bits;
  if (bits == 4) return (n + 1) / 2;
  if (bits == 6) return (n + 3) / 4 * 3;
  return n;
}

uint64_t scales_per_row(Format f, uint64_t n) {
  int b = format_info(f).block;
  return b ? (n + b - 1) / b : 0;
}

}  // namespace lowbit
