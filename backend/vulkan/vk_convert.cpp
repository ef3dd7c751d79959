// vk_convert.cpp — quantize / dequantize recording: variant choice, row chunking, dispatch sizes.
#include "backend/vulkan/vk_convert.hpp"

#include <algorithm>
#include <array>

#include "backend/convert_plan.hpp"
#include "lowbit_formats.h"

namespace lowbit::detail::vk {

namespace {

// Must match `Params` in convert.comp.
struct Push {
  uint32_t rows, cols, nblk, row_bytes, elem_base, codes_base, scales_base, items;
};

// Spec constant ids of convert.comp.
enum Spec { kWg, kElem, kBlock, kScaleKind, kIoElem, kSaturate, kPacked, kMode, kGroupSize, kBlocks, kSpecCount };
enum Mode : uint32_t { kEncode = 0, kAmax = 1, kTensorScale = 2 };

const VulkanBuffer& vkbuf(const DeviceBuffer* b) { return *static_cast<const VulkanBuffer*>(b); }

uint32_t elem_bytes(int elem) { return elem == LB_FMT_F32 ? 4 : 2; }

// One binding that advances with the row chunk (row_bytes per row), or a fixed one (row_bytes 0).
struct Operand {
  const VulkanBuffer* buf;
  uint64_t row_bytes;
  bool write;
};

class ChunkPlanner {
 public:
  ChunkPlanner(const Gpu& gpu, std::vector<Operand> ops, uint64_t rows, const char* what)
      : ops_(std::move(ops)), range_(gpu.max_binding_range()),
        align_(std::max<uint64_t>(gpu.limits().minStorageBufferOffsetAlignment, 4)) {
    rows_per_chunk_ = rows;
    for (const auto& o : ops_) {
      if (!o.row_bytes) continue;
      uint64_t fit = range_ > align_ ? (range_ - align_) / o.row_bytes : 0;
      if (fit == 0)
        throw Error(ErrorCode::Unsupported,
                    std::string(what) + ": one row takes " + std::to_string(o.row_bytes) +
                        " bytes, more than the device's largest storage-buffer binding (" + std::to_string(range_) +
                        " bytes); split the last dimension");
      rows_per_chunk_ = std::min(rows_per_chunk_, fit);
    }
  }
  uint64_t rows_per_chunk() const { return rows_per_chunk_; }

  // Bindings for rows starting at r0; base[i] = byte offset of row r0 inside binding i.
  std::array<BufferUse, 4> bindings(uint64_t r0, std::array<uint64_t, 4>& base) const {
    std::array<BufferUse, 4> b{};
    for (size_t i = 0; i < ops_.size(); ++i) {
      uint64_t byte = r0 * ops_[i].row_bytes;
      uint64_t aligned = byte / align_ * align_;
      base[i] = byte - aligned;
      b[i] = {ops_[i].buf, aligned, std::min<uint64_t>(ops_[i].buf->capacity() - aligned, range_), ops_[i].write};
    }
    return b;
  }

 private:
  std::vector<Operand> ops_;
  uint64_t range_, align_, rows_per_chunk_;
};

void dispatch_items(Stream& stream, const Gpu& gpu, const Pipeline& p, const std::array<BufferUse, 4>& b,
                    const Push& push, uint32_t wg) {
  uint64_t groups = (uint64_t(push.items) + wg - 1) / wg;
  if (!groups) return;
  uint64_t gx = std::min<uint64_t>(groups, gpu.limits().maxComputeWorkGroupCount[0]);
  uint64_t gy = (groups + gx - 1) / gx;
  if (gy > gpu.limits().maxComputeWorkGroupCount[1])
    throw Error(ErrorCode::Unsupported, "vulkan: tensor chunk needs more workgroups than the device allows");
  stream.dispatch(p, b, &push, sizeof push, uint32_t(gx), uint32_t(gy));
}

// Row layout of the codes and scales of one tensor (shared by quantize and dequantize).
struct CodeLayout {
  CodeLayout(const FormatInfo& f, bool packed, uint64_t cols)
      : blocked(f.block != 0),
        sub_byte_packed(packed && f.bits != 8),
        row_bytes(packed ? packed_row_bytes(f.format, cols) : cols),
        nblk(scales_per_row(f.format, cols)) {}
  bool blocked, sub_byte_packed;
  uint64_t row_bytes, nblk;  // code bytes and block scales per row
};

// Specialization constants of convert.comp for a format, float side, saturation and packing (mode:
// encode; the NVFP4 quantize passes change kMode).
std::vector<uint32_t> variant_spec(const FormatInfo& f, int io_elem, bool saturate, bool sub_byte_packed,
                                   const ConvertPlan& plan) {
  std::vector<uint32_t> spec(kSpecCount);
  spec[kWg] = plan.wg;
  spec[kElem] = uint32_t(f.elem);
  spec[kBlock] = uint32_t(f.block);
  spec[kScaleKind] = f.scale == ScaleKind::E8M0 ? 1 : f.scale == ScaleKind::E4M3 ? 2 : 0;
  spec[kIoElem] = uint32_t(io_elem);
  spec[kSaturate] = saturate;
  spec[kPacked] = sub_byte_packed;
  spec[kGroupSize] = plan.group;
  spec[kBlocks] = plan.blocks;
  spec[kMode] = kEncode;
  return spec;
}

}  // namespace

uint32_t ConvertKernels::max_workgroup() const {
  return std::min(gpu_.limits().maxComputeWorkGroupSize[0], gpu_.limits().maxComputeWorkGroupInvocations);
}

void ConvertKernels::quantize(const QuantizeArgs& a) {
  const FormatInfo& f = *a.fmt;
  const CodeLayout lay(f, a.packed, a.cols);
  const bool blocked = lay.blocked, sub_byte_packed = lay.sub_byte_packed;
  const uint64_t row_bytes = lay.row_bytes, nblk = lay.nblk;
  const VulkanBuffer& codes = vkbuf(a.codes);
  const VulkanBuffer& scales = blocked ? vkbuf(a.scales) : dummy_;
  const VulkanBuffer& ts = f.tensor_scale ? vkbuf(a.tensor_scale) : dummy_;
  const VulkanBuffer& src = vkbuf(a.src);
  ChunkPlanner plan(gpu_,
                    {{&src, a.cols * elem_bytes(a.src_elem), false},
                     {&codes, row_bytes, true},
                     {&scales, nblk, true},
                     {&ts, 0, true}},
                    a.rows, "quantize");
  if (plan.rows_per_chunk() * std::max<uint64_t>(a.cols, 1) > 0xFFFFFFFFull)
    throw Error(ErrorCode::Unsupported, "quantize: chunk too large");  // unreachable with ranges <= 4 GiB

  const ConvertPlan cp = plan_convert(f, a.config, max_workgroup());
  std::vector<uint32_t> spec = variant_spec(f, a.src_elem, blocked || a.saturate, sub_byte_packed, cp);
  const Pipeline& encode = pipelines_.get("convert_quantize", 4, spec);
  const Pipeline* amax = nullptr;
  const Pipeline* finish = nullptr;
  if (f.tensor_scale && !a.tensor_scale_given) {
    spec[kMode] = kAmax;
    amax = &pipelines_.get("convert_quantize", 4, spec);
    spec[kMode] = kTensorScale;
    finish = &pipelines_.get("convert_quantize", 4, spec);
  }

  auto chunk_push = [&](uint64_t r0, uint64_t r1, const std::array<uint64_t, 4>& base) {
    Push p{};
    p.rows = uint32_t(r1 - r0);
    p.cols = uint32_t(a.cols);
    p.nblk = uint32_t(nblk);
    p.row_bytes = uint32_t(row_bytes);
    p.elem_base = uint32_t(base[0] / elem_bytes(a.src_elem));
    p.codes_base = uint32_t(base[1]);
    p.scales_base = uint32_t(base[2]);
    return p;
  };
  const uint64_t step = plan.rows_per_chunk();

  stream_.begin_op();
  if (f.tensor_scale) {
    if (a.tensor_scale_given) {
      stream_.fill(ts, 0, 4, a.tensor_scale_bits);
    } else {
      // amax over finite |x| (atomicMax on the bits), then tensor scale = lb_nvfp4_tensor_scale(amax).
      stream_.fill(ts, 0, 4, 0);
      std::array<uint64_t, 4> base{};
      for (uint64_t r0 = 0; r0 < a.rows; r0 += step) {
        uint64_t r1 = std::min(a.rows, r0 + step);
        auto b = plan.bindings(r0, base);
        Push p = chunk_push(r0, r1, base);
        p.items = uint32_t(cp.items(r1 - r0, a.cols, nblk, false));
        dispatch_items(stream_, gpu_, *amax, b, p, cp.wg);
      }
      auto b = plan.bindings(0, base);
      Push p = chunk_push(0, std::min(a.rows, step), base);
      p.items = 1;
      dispatch_items(stream_, gpu_, *finish, b, p, cp.wg);
    }
  }
  std::array<uint64_t, 4> base{};
  for (uint64_t r0 = 0; r0 < a.rows; r0 += step) {
    uint64_t r1 = std::min(a.rows, r0 + step);
    auto b = plan.bindings(r0, base);
    Push p = chunk_push(r0, r1, base);
    p.items = uint32_t(cp.items(r1 - r0, a.cols, nblk, blocked));
    dispatch_items(stream_, gpu_, encode, b, p, cp.wg);
  }
  stream_.end_op();
}

void ConvertKernels::dequantize(const DequantizeArgs& a) {
  const FormatInfo& f = *a.fmt;
  const CodeLayout lay(f, a.packed, a.cols);
  const bool blocked = lay.blocked, sub_byte_packed = lay.sub_byte_packed;
  const uint64_t row_bytes = lay.row_bytes, nblk = lay.nblk;
  const VulkanBuffer& codes = vkbuf(a.codes);
  const VulkanBuffer& scales = blocked ? vkbuf(a.scales) : dummy_;
  const VulkanBuffer& ts = f.tensor_scale ? vkbuf(a.tensor_scale) : dummy_;
  const VulkanBuffer& dst = vkbuf(a.dst);
  ChunkPlanner plan(gpu_,
                    {{&dst, a.cols * elem_bytes(a.out_elem), true},
                     {&codes, row_bytes, false},
                     {&scales, nblk, false},
                     {&ts, 0, false}},
                    a.rows, "dequantize");

  const ConvertPlan cp = plan_convert(f, a.config, max_workgroup());
  std::vector<uint32_t> spec = variant_spec(f, a.out_elem, true, sub_byte_packed, cp);
  const Pipeline& pipe = pipelines_.get("convert_dequantize", 4, spec);

  const uint64_t step = plan.rows_per_chunk();
  stream_.begin_op();
  std::array<uint64_t, 4> base{};
  for (uint64_t r0 = 0; r0 < a.rows; r0 += step) {
    uint64_t r1 = std::min(a.rows, r0 + step);
    auto b = plan.bindings(r0, base);
    Push p{};
    p.rows = uint32_t(r1 - r0);
    p.cols = uint32_t(a.cols);
    p.nblk = uint32_t(nblk);
    p.row_bytes = uint32_t(row_bytes);
    p.elem_base = uint32_t(base[0] / elem_bytes(a.out_elem));
    p.codes_base = uint32_t(base[1]);
    p.scales_base = uint32_t(base[2]);
    p.items = uint32_t(cp.items(r1 - r0, a.cols, nblk, blocked));
    dispatch_items(stream_, gpu_, pipe, b, p, cp.wg);
  }
  stream_.end_op();
}

}  // namespace lowbit::detail::vk
