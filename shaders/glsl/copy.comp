// copy.comp — Context::copy on GPUs: dst = src in 16-byte words, grid-stride over a few workgroups per
// compute unit (each invocation keeps several loads in flight). vkCmdCopyBuffer moved 846 GB/s on an
// H100 where a copy kernel (PyTorch's) moved 2947 GB/s, and the bench's roofline is this copy.
#version 450

layout(local_size_x = 256) in;
layout(push_constant) uniform Params { uint words; } pc;  // 16-byte words to copy
layout(set = 0, binding = 0, std430) readonly buffer Src { uvec4 src[]; };
layout(set = 0, binding = 1, std430) writeonly buffer Dst { uvec4 dst[]; };

void main() {
  const uint stride = gl_NumWorkGroups.x * 256u;
  uint i = gl_GlobalInvocationID.x;
  // four words per trip, their loads issued before the stores
  for (; i + 3u * stride < pc.words; i += 4u * stride) {
    uvec4 a = src[i], b = src[i + stride], c = src[i + 2u * stride], d = src[i + 3u * stride];
    dst[i] = a, dst[i + stride] = b, dst[i + 2u * stride] = c, dst[i + 3u * stride] = d;
  }
  for (; i < pc.words; i += stride) dst[i] = src[i];
}
