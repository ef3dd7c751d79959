// rmsnorm.comp — the example engine's own RMSNorm (lowbit has none): out[i] = fp16(x[i] / rms(x) * gamma[i]),
// rms(x) = sqrt(mean(x²) + eps), one workgroup per row of n fp32 values.
#version 450
#extension GL_EXT_shader_16bit_storage : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Gamma { float gamma[]; };
layout(std430, binding = 2) writeonly buffer Out { float16_t o[]; };
layout(push_constant) uniform P { uint n; float eps; } p;
shared float partial[64];
void main() {
  uint t = gl_LocalInvocationID.x;
  float s = 0.0;
  for (uint i = t; i < p.n; i += 64) s += x[i] * x[i];
  partial[t] = s;
  barrier();
  for (uint w = 32; w > 0; w >>= 1) {
    if (t < w) partial[t] += partial[t + w];
    barrier();
  }
  float inv = 1.0 / sqrt(partial[0] / float(p.n) + p.eps);
  for (uint i = t; i < p.n; i += 64) o[i] = float16_t(x[i] * inv * gamma[i]);
}
