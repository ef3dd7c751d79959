// tune_ops.hpp — the ops `lowbit tune --op` knows, as data: each names its shape syntax, its
// representative shapes and how to build a tuning task (buffers + launch + output) for one shape. A new
// op (e.g. w4a8) = one entry in tune_ops.cpp.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autotune/tuner.hpp"

namespace lowbit::tune {

struct OpShape {
  std::vector<int64_t> dims;  // GEMM: M, N, K; attention: batch, context; kv_append: batch, tokens per sequence
  std::string variant = {};   // ops with variants: the first field of the shape ("mxfp4" of "mxfp4,4096,4096")
  std::string str() const;    // "1x4096x4096", "mxfp4:4096x4096"
};

struct TuneOp {
  std::string name;          // "w4a16"
  std::string shape_syntax;  // "M,N,K"
  std::vector<OpShape> representative;
  std::function<TuneTask(Context&, const OpShape&)> make_task;
  std::vector<std::string> variants = {};  // non-empty: the shape starts with one of these (quantize: FORMAT)
};

const std::vector<TuneOp>& tune_ops();
// Throws Error(InvalidArgument) naming the known ops.
const TuneOp& tune_op(const std::string& name);
// "a,b,c[;a,b,c...]" with the op's arity, every value > 0 (the first one of the op's variants where it has
// them); throws Error(InvalidArgument) naming the bad shape.
std::vector<OpShape> parse_op_shapes(const TuneOp& op, const std::string& text);

}  // namespace lowbit::tune
