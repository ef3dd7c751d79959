// gather.comp — act_order activations: out[m, j] = x[m, perm[j]] for fp16 x [M, K], done once per
// call so the GEMM then reads K in packed (group-contiguous) order.
#version 450
#extension GL_EXT_shader_16bit_storage : require

layout(local_size_x = 256) in;
layout(push_constant) uniform Params { uint M, K; } pc;
layout(set = 0, binding = 0, std430) readonly buffer X { uint16_t x[]; };
layout(set = 0, binding = 1, std430) readonly buffer Perm { int perm[]; };
layout(set = 0, binding = 2, std430) writeonly buffer Out { uint16_t o[]; };

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= pc.M * pc.K) return;
  uint m = i / pc.K, j = i % pc.K;
  o[i] = x[m * pc.K + uint(perm[j])];
}
