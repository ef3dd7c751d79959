/* convert.cl — quantize / dequantize kernels for every lowbit format (OpenCL C 1.2).
 *
 * The host prepends shaders/common/lowbit_formats.h, so every bit of format math below is the code
 * the CPU reference runs. One source, many variants chosen with -D options:
 *   LB_ELEM      element format id (LB_FMT_E4M3 ... LB_FMT_INT8)
 *   LB_FLOAT     float side: quantize source / dequantize destination (LB_FMT_F32, _F16, _BF16);
 *                fp16/bf16 move as ushort bits (no cl_khr_fp16 needed, conversions are integer math)
 *   LB_BLOCK     elements per block scale: 0 (plain FP8), 16 (NVFP4) or 32 (MX)
 *   LB_SCALE     0 none, 1 E8M0 (MX), 2 E4M3 block scale + fp32 tensor scale (NVFP4)
 *   LB_BITS      code width 8, 6 or 4
 *   LB_PACKED    1: FP4 two codes per byte (low nibble first), FP6 four codes per 3 bytes (little-endian
 *                bit order), rows padded with zero codes to whole bytes; 0: one code per byte
 *   LB_SATURATE  plain FP8 overflow: 1 clamps to ±max, 0 gives NaN / inf
 *
 *   LB_GROUP     plain formats: elements per work-item (default 16; backend/convert_plan.hpp, tunable)
 *   LB_BLOCKS    block formats: blocks per work-item (default 1; tunable)
 *
 * Work split: plain formats take LB_GROUP consecutive elements of the flattened tensor per work-item;
 * block formats take LB_BLOCKS consecutive blocks (a block: one row segment of LB_BLOCK elements, the
 * last one possibly short) per work-item, so every work-item owns whole output bytes and no atomics are
 * needed. The NVFP4 tensor
 * scale, when not given, comes from lb_amax (max finite |x| bits, work-group reduction + atomic_max)
 * followed by lb_nvfp4_finalize (one work-item: amax bits -> lb_nvfp4_tensor_scale).
 */
#if !defined(LB_ELEM) || !defined(LB_FLOAT) || !defined(LB_BLOCK) || !defined(LB_SCALE) || \
    !defined(LB_BITS) || !defined(LB_PACKED) || !defined(LB_SATURATE)
#error "convert.cl needs -DLB_ELEM -DLB_FLOAT -DLB_BLOCK -DLB_SCALE -DLB_BITS -DLB_PACKED -DLB_SATURATE"
#endif

#ifndef LB_GROUP
#define LB_GROUP 16
#endif
#ifndef LB_BLOCKS
#define LB_BLOCKS 1
#endif
/* Copies the LB_GROUP bytes of one plain-format work-item (16-byte vectors where they divide it). */
#if LB_GROUP % 16 == 0
#define LB_COPY_GROUP(dst, src) for (int k_ = 0; k_ < LB_GROUP; k_ += 16) vstore16(vload16(0, (src) + k_), 0, (dst) + k_)
#else
#define LB_COPY_GROUP(dst, src) for (int k_ = 0; k_ < LB_GROUP; ++k_) (dst)[k_] = (src)[k_]
#endif

#if LB_FLOAT == LB_FMT_F32
typedef uint lb_float_t;
#else
typedef ushort lb_float_t;
#endif

/* fp32 bits of element i of a float-side buffer. */
inline uint lb_load_x(__global const lb_float_t* p, ulong i) { return lb_to_f32((uint)p[i], LB_FLOAT); }

/* ---- quantize --------------------------------------------------------------------------------- */
#if LB_BLOCK != 0
/* Quantizes block `gid` (row-major over rows x nblk) of the tensor. */
inline void lb_quantize_block(__global const lb_float_t* src, __global uchar* codes, __global uchar* scales,
                              __global const uint* tensor_scale, ulong rows, ulong cols, ulong gid) {
  ulong nblk = (cols + LB_BLOCK - 1) / LB_BLOCK;
  if (gid >= rows * nblk) return;  /* past the last block */
  ulong r = gid / nblk, b = gid - r * nblk;
  ulong j0 = b * LB_BLOCK;
  uint cnt = (uint)min((ulong)LB_BLOCK, cols - j0);
  __global const lb_float_t* x = src + r * cols + j0;

  /* load the block (a short tail block is padded with +0, which encodes as code 0) and its max |x| */
  uint v[LB_BLOCK];
  uint amax = 0u;
  if (cnt == LB_BLOCK) {
    for (int k = 0; k < LB_BLOCK; ++k) v[k] = lb_load_x(x, k);
  } else {
    for (uint k = 0; k < LB_BLOCK; ++k) v[k] = k < cnt ? lb_load_x(x, k) : 0u;
  }
  for (int k = 0; k < LB_BLOCK; ++k) amax = max(amax, lb_abs_bits(v[k]));

#if LB_SCALE == 1
  uint sc = lb_mx_scale_code(amax, LB_ELEM);
#define LB_ENC(xb) lb_mx_encode((xb), sc, LB_ELEM)
#else
  uint ts = tensor_scale[0];
  uint sc = lb_nvfp4_scale_code(amax, ts);
#define LB_ENC(xb) lb_nvfp4_encode((xb), sc, ts)
#endif
  scales[r * nblk + b] = (uchar)sc;

#if !LB_PACKED || LB_BITS == 8
  __global uchar* out = codes + r * cols + j0;
  uchar c[LB_BLOCK];
  for (int k = 0; k < LB_BLOCK; ++k) c[k] = (uchar)LB_ENC(v[k]);
  if (cnt == LB_BLOCK) {
    for (int k = 0; k < LB_BLOCK; k += 16) vstore16(vload16(0, c + k), 0, out + k);
  } else {
    for (uint k = 0; k < cnt; ++k) out[k] = c[k];
  }
#elif LB_BITS == 4
  __global uchar* out = codes + r * ((cols + 1) / 2) + j0 / 2;
  uint nbytes = (cnt + 1u) / 2u;
  for (uint i = 0; i < LB_BLOCK / 2; ++i) {
    uint byte = (LB_ENC(v[2 * i]) & 0xFu) | ((LB_ENC(v[2 * i + 1]) & 0xFu) << 4);
    if (i < nbytes) out[i] = (uchar)byte;
  }
#else /* 6 bits: four codes in three bytes */
  __global uchar* out = codes + r * (((cols + 3) / 4) * 3) + (j0 / 4) * 3;
  uint ngroups = (cnt + 3u) / 4u;
  for (uint g = 0; g < LB_BLOCK / 4; ++g) {
    uint w = 0u;
    for (uint k = 0; k < 4u; ++k) w |= (LB_ENC(v[4 * g + k]) & 0x3Fu) << (6u * k);
    if (g < ngroups) {
      out[3 * g] = (uchar)w;
      out[3 * g + 1] = (uchar)(w >> 8);
      out[3 * g + 2] = (uchar)(w >> 16);
    }
  }
#endif
#undef LB_ENC
}
#endif

__kernel void lb_quantize(__global const lb_float_t* src, __global uchar* codes, __global uchar* scales,
                          __global const uint* tensor_scale, ulong rows, ulong cols) {
  ulong gid = get_global_id(0);
#if LB_BLOCK == 0
  ulong n = rows * cols;
  ulong i0 = gid * LB_GROUP;
  if (i0 >= n) return;
  if (i0 + LB_GROUP <= n) {
    uchar c[LB_GROUP];
    for (int k = 0; k < LB_GROUP; ++k) c[k] = (uchar)lb_encode(lb_load_x(src, i0 + k), 0, LB_ELEM, LB_SATURATE != 0);
    LB_COPY_GROUP(codes + i0, c);
  } else {
    for (ulong i = i0; i < n; ++i) codes[i] = (uchar)lb_encode(lb_load_x(src, i), 0, LB_ELEM, LB_SATURATE != 0);
  }
#else
  for (ulong j = 0; j < LB_BLOCKS; ++j) lb_quantize_block(src, codes, scales, tensor_scale, rows, cols, gid * LB_BLOCKS + j);
#endif /* LB_BLOCK */
}

/* ---- dequantize ------------------------------------------------------------------------------- */
#if LB_BLOCK != 0
/* Dequantizes block `gid` (row-major over rows x nblk) of the tensor. */
inline void lb_dequantize_block(__global const uchar* codes, __global const uchar* scales,
                                __global const uint* tensor_scale, __global lb_float_t* dst, ulong rows, ulong cols,
                                ulong gid) {
  ulong nblk = (cols + LB_BLOCK - 1) / LB_BLOCK;
  if (gid >= rows * nblk) return;
  ulong r = gid / nblk, b = gid - r * nblk;
  ulong j0 = b * LB_BLOCK;
  uint cnt = (uint)min((ulong)LB_BLOCK, cols - j0);
  uint sc = scales[r * nblk + b];
#if LB_SCALE == 1
#define LB_DEC(c) lb_mx_decode((c), sc, LB_ELEM, LB_FLOAT)
#else
  uint ts = tensor_scale[0];
#define LB_DEC(c) lb_nvfp4_decode((c), sc, ts, LB_FLOAT)
#endif

  /* gather the block's codes (bytes past the row's end are never read) */
  uint c[LB_BLOCK];
#if !LB_PACKED || LB_BITS == 8
  __global const uchar* in = codes + r * cols + j0;
  for (uint k = 0; k < LB_BLOCK; ++k) c[k] = k < cnt ? (uint)in[k] : 0u;
#elif LB_BITS == 4
  __global const uchar* in = codes + r * ((cols + 1) / 2) + j0 / 2;
  for (uint i = 0; i < LB_BLOCK / 2; ++i) {
    uint byte = 2 * i < cnt ? (uint)in[i] : 0u;
    c[2 * i] = byte & 0xFu;
    c[2 * i + 1] = byte >> 4;
  }
#else
  __global const uchar* in = codes + r * (((cols + 3) / 4) * 3) + (j0 / 4) * 3;
  for (uint g = 0; g < LB_BLOCK / 4; ++g) {
    uint w = 4 * g < cnt ? ((uint)in[3 * g] | ((uint)in[3 * g + 1] << 8) | ((uint)in[3 * g + 2] << 16)) : 0u;
    for (uint k = 0; k < 4u; ++k) c[4 * g + k] = (w >> (6u * k)) & 0x3Fu;
  }
#endif

  __global lb_float_t* out = dst + r * cols + j0;
  if (cnt == LB_BLOCK) {
    for (int k = 0; k < LB_BLOCK; ++k) out[k] = (lb_float_t)LB_DEC(c[k]);
  } else {
    for (uint k = 0; k < cnt; ++k) out[k] = (lb_float_t)LB_DEC(c[k]);
  }
#undef LB_DEC
}
#endif

__kernel void lb_dequantize(__global const uchar* codes, __global const uchar* scales,
                            __global const uint* tensor_scale, __global lb_float_t* dst, ulong rows,
                            ulong cols) {
  ulong gid = get_global_id(0);
#if LB_BLOCK == 0
  ulong n = rows * cols;
  ulong i0 = gid * LB_GROUP;
  if (i0 >= n) return;
  if (i0 + LB_GROUP <= n) {
    uchar cb[LB_GROUP];
    LB_COPY_GROUP(cb, codes + i0);
    for (int k = 0; k < LB_GROUP; ++k) dst[i0 + k] = (lb_float_t)lb_decode(cb[k], 0, LB_ELEM, LB_FLOAT);
  } else {
    for (ulong i = i0; i < n; ++i) dst[i] = (lb_float_t)lb_decode(codes[i], 0, LB_ELEM, LB_FLOAT);
  }
#else
  for (ulong j = 0; j < LB_BLOCKS; ++j) lb_dequantize_block(codes, scales, tensor_scale, dst, rows, cols, gid * LB_BLOCKS + j);
#endif /* LB_BLOCK */
}

/* ---- NVFP4 tensor scale ----------------------------------------------------------------------- */
#if LB_SCALE == 2
/* out[0] = max(out[0], max over i of finite |x_i| bits). Work-item-strided loop, local reduction
 * (scratch holds one uint per work-item; the local size is a power of two), one atomic per group. */
__kernel void lb_amax(__global const lb_float_t* src, ulong n, __global uint* out, __local uint* scratch) {
  ulong gsize = get_global_size(0);
  uint m = 0u;
  for (ulong i = get_global_id(0); i < n; i += gsize) {
    uint ab = lb_abs_bits(lb_load_x(src, i));
    if (lb_is_finite_abs(ab)) m = max(m, ab);
  }
  uint lid = (uint)get_local_id(0);
  scratch[lid] = m;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = (uint)get_local_size(0) / 2u; s > 0u; s >>= 1) {
    if (lid < s) scratch[lid] = max(scratch[lid], scratch[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0u) atomic_max(out, scratch[0]);
}

/* ts[0]: amax bits in, tensor scale bits out. */
__kernel void lb_nvfp4_finalize(__global uint* ts) {
  if (get_global_id(0) == 0) ts[0] = lb_nvfp4_tensor_scale(ts[0]);
}
#endif
