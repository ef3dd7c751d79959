// residual_add.comp — the example engine's residual connection: out[i] = x[i] + float(delta[i]) (fp32 stream,
// fp16 delta from a lowbit GEMM).
#version 450
#extension GL_EXT_shader_16bit_storage : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer D { float16_t delta[]; };
layout(std430, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform P { uint n; } p;
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < p.n) o[i] = x[i] + float(delta[i]);
}
