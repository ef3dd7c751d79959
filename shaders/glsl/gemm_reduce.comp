// gemm_reduce.comp — second pass of split-K: Y[m, n] = sum over slices of the fp32 partials
// [splits, M, N] (bound at binding 0) + bias, converted to the output type.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "gemm_common.glsl"

layout(local_size_x = 256) in;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= pc.M * pc.N) return;
  uint m = i / pc.N, n = i % pc.N;
  float acc = 0.0;
  for (uint s = 0; s < pc.splits; ++s) acc += uintBitsToFloat(x_words[s * pc.M * pc.N + i]);
  store_y(m, n, acc + bias_at(n));
}
