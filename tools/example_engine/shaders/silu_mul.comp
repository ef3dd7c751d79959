// silu_mul.comp — the example engine's MLP activation: out[i] = fp16(silu(gate[i]) * up[i]), silu(g) = g / (1 + e^-g).
#version 450
#extension GL_EXT_shader_16bit_storage : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer G { float16_t gate[]; };
layout(std430, binding = 1) readonly buffer U { float16_t up[]; };
layout(std430, binding = 2) writeonly buffer Out { float16_t o[]; };
layout(push_constant) uniform P { uint n; } p;
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  float g = float(gate[i]);
  o[i] = float16_t(g / (1.0 + exp(-g)) * float(up[i]));
}
