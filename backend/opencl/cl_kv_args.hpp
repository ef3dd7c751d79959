// cl_kv_args.hpp — the eight KV-cache kernel arguments kv_append.cl and attention.cl share, in their
// order: K codes, V codes, then int8/int4 K scale, K zero, V scale, V zero, then FP8 K and V scales
// (a format's unused ones are null).
#pragma once

#include "backend/attention_plan.hpp"
#include "backend/opencl/opencl_device.hpp"

namespace lowbit::detail::cl {

inline void set_kv_cache_args(cl_kernel k, cl_uint first, const KvLayerArgs& kv) {
  const bool ints = attn::kv_int_format(kv.format), fp8 = attn::kv_fp8_format(kv.format);
  cl_mem none = nullptr;
  set_arg(k, first, mem(kv.k));
  set_arg(k, first + 1, mem(kv.v));
  set_arg(k, first + 2, ints ? mem(kv.k_scale) : none);
  set_arg(k, first + 3, ints ? mem(kv.k_zero) : none);
  set_arg(k, first + 4, ints ? mem(kv.v_scale) : none);
  set_arg(k, first + 5, ints ? mem(kv.v_zero) : none);
  set_arg(k, first + 6, fp8 ? mem(kv.k_scale) : none);
  set_arg(k, first + 7, fp8 ? mem(kv.v_scale) : none);
}

}  // namespace lowbit::detail::cl
