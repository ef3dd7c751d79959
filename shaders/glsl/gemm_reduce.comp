// gemm_reduce.comp — second pass of split-K: Y[m, n] = sum over slices of the fp32 partials
// [splits, M, N] (bound at binding 0) + bias, converted to the output type. The slices' loads go out
// RU at a time (a GPU would otherwise wait a memory latency per slice); the sum keeps the slice order.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "gemm_common.glsl"

layout(local_size_x = 256) in;

const uint RU = 8u;  // partials loaded together (one wait for the group, not one per slice), added in slice order

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= pc.M * pc.N) return;
  uint m = i / pc.N, n = i % pc.N, mn = pc.M * pc.N;
  float acc = 0.0;
  uint s = 0u;
  for (; s + RU <= pc.splits; s += RU) {
    float v[RU];
    [[unroll]] for (uint j = 0u; j < RU; ++j) v[j] = uintBitsToFloat(x_words[(s + j) * mn + i]);
    [[unroll]] for (uint j = 0u; j < RU; ++j) acc += v[j];
  }
  for (; s < pc.splits; ++s) acc += uintBitsToFloat(x_words[s * mn + i]);
  store_y(m, n, acc + bias_at(n));
}
