/* lowbit_formats.h — the one source of truth for every number format lowbit converts.
 *
 * This header compiles unchanged as C++20 (CPU backend, tests), GLSL 4.50 (Vulkan shaders, via
 * GL_GOOGLE_include_directive) and OpenCL C 1.2 (embedded in front of every .cl source). All math is
 * integer arithmetic on the IEEE bit patterns, so results are bit-identical on every device, whatever
 * its denormal flushing or division precision.
 *
 * Central idea: every conversion is "a value sig * 2^p, rounded to nearest-even into a float format
 * with mbits mantissa bits and exponent bias `bias`" (lb_round_pack). Encoding fp32 -> FP8/FP6/FP4/fp16/
 * bf16, decoding codes -> fp32/fp16/bf16, MX element scaling and the NVFP4 divisions all go through it.
 *
 * Semantics (DESIGN §3 and the foundation issue):
 *  - RNE everywhere; saturating mode clamps finite overflow and ±inf to ±max; non-saturating gives NaN
 *    (E4M3, fnuz) or ±inf (E5M2). NaN stays NaN: sign|0x7F (E4M3), sign|0x7E (E5M2), 0x80 (fnuz).
 *  - A negative value that rounds to zero keeps its sign (-0), except in fnuz formats (+0).
 *  - FP6/FP4 have no NaN/inf: they always saturate; a NaN input encodes as code 0.
 *  - MX: shared exponent e = floor(log2(amax)) - emax_elem from the exponent bits, clamped to
 *    [-127, 127], scale code e + 127; amax 0 -> code 0x00; a block holding NaN/±inf -> 0xFF and all its
 *    element codes 0; decode with scale 0xFF gives NaN.
 *  - MXINT8: element = clamp(RNE(x / 2^e * 64), -127, 127) as a two's-complement byte.
 *  - NVFP4: see lb_nvfp4_* below.
 */
#ifndef LOWBIT_FORMATS_H
#define LOWBIT_FORMATS_H

/* ---- language shims --------------------------------------------------------------------------- */
#if defined(__cplusplus)
#include <bit>
#include <cmath>
#include <cstdint>
namespace lowbit::fmt {
typedef std::uint32_t uint;
#define LB_FN inline
#define LB_U(x) static_cast<uint>(x)
#define LB_I(x) static_cast<int>(x)
#define LB_F(x) static_cast<float>(x)
#define LB_AS_F32(x) std::bit_cast<float>(static_cast<uint>(x))
#define LB_AS_U32(x) std::bit_cast<uint>(static_cast<float>(x))
#define LB_RINT(x) std::nearbyint(x) /* round to nearest even (default rounding mode) */
#define LB_PRECISE
#define LB_MSB(x) (static_cast<int>(std::bit_width(static_cast<uint>(x))) - 1)
#define LB_RSQRT_EST(x) (1.0f / std::sqrt(x)) /* an estimate only: lb_rsqrt_f32 corrects it exactly */
#elif defined(__OPENCL_VERSION__)
#define LB_FN inline
#define LB_U(x) ((uint)(x))
#define LB_I(x) ((int)(x))
#define LB_F(x) ((float)(x))
#define LB_AS_F32(x) as_float((uint)(x))
#define LB_AS_U32(x) as_uint((float)(x))
#define LB_RINT(x) rint(x)
#define LB_PRECISE
#define LB_MSB(x) (31 - (int)clz((uint)(x)))
#define LB_RSQRT_EST(x) rsqrt(x)
#else /* GLSL */
#define LB_FN
#define LB_U(x) uint(x)
#define LB_I(x) int(x)
#define LB_F(x) float(x)
#define LB_AS_F32(x) uintBitsToFloat(uint(x))
#define LB_AS_U32(x) floatBitsToUint(float(x))
#define LB_RINT(x) roundEven(x)
#define LB_PRECISE precise
#define LB_MSB(x) findMSB(uint(x))
#define LB_RSQRT_EST(x) inversesqrt(x)
#endif

/* ---- format ids (shared with host code; keep in sync with lowbit::ElemFormat) ------------------ */
#define LB_FMT_E4M3 0     /* OCP FP8 E4M3 ("fn"): bias 7, max 448, NaN S.1111.111, no inf */
#define LB_FMT_E5M2 1     /* OCP FP8 E5M2: bias 15, max 57344, IEEE-like inf/NaN */
#define LB_FMT_E4M3FNUZ 2 /* bias 8, max 240, NaN 0x80, no -0, no inf */
#define LB_FMT_E5M2FNUZ 3 /* bias 16, max 57344, NaN 0x80, no -0, no inf */
#define LB_FMT_E3M2 4     /* MX FP6: bias 3, max 28 */
#define LB_FMT_E2M3 5     /* MX FP6: bias 1, max 7.5 */
#define LB_FMT_E2M1 6     /* MX/NV FP4: bias 1, max 6 */
#define LB_FMT_INT8 7     /* MXINT8 element: two's complement, value = code / 64 */
#define LB_FMT_F16 8      /* IEEE binary16 */
#define LB_FMT_BF16 9     /* bfloat16 */
#define LB_FMT_F32 10     /* IEEE binary32 */

#define LB_KIND_IEEE 0   /* all-ones exponent = inf/NaN */
#define LB_KIND_FN 1     /* only S.1..1.1..1 is NaN, no inf */
#define LB_KIND_FNUZ 2   /* 0x80 is the single NaN, no -0, no inf */
#define LB_KIND_FINITE 3 /* every code is a finite number */

#define LB_MX_BLOCK 32
#define LB_NVFP4_BLOCK 16
#define LB_E8M0_NAN 255u
#define LB_E4M3_NAN 127u

LB_FN int lb_fmt_ebits(int f) {
  switch (f) {
    case LB_FMT_E4M3: case LB_FMT_E4M3FNUZ: return 4;
    case LB_FMT_E5M2: case LB_FMT_E5M2FNUZ: case LB_FMT_F16: return 5;
    case LB_FMT_E3M2: return 3;
    case LB_FMT_E2M3: case LB_FMT_E2M1: return 2;
    default: return 8; /* BF16, F32 */
  }
}
LB_FN int lb_fmt_mbits(int f) {
  switch (f) {
    case LB_FMT_E4M3: case LB_FMT_E4M3FNUZ: return 3;
    case LB_FMT_E5M2: case LB_FMT_E5M2FNUZ: case LB_FMT_E3M2: return 2;
    case LB_FMT_E2M3: return 3;
    case LB_FMT_E2M1: return 1;
    case LB_FMT_F16: return 10;
    case LB_FMT_BF16: return 7;
    default: return 23; /* F32 */
  }
}
LB_FN int lb_fmt_bias(int f) {
  switch (f) {
    case LB_FMT_E4M3: return 7;
    case LB_FMT_E5M2: case LB_FMT_F16: return 15;
    case LB_FMT_E4M3FNUZ: return 8;
    case LB_FMT_E5M2FNUZ: return 16;
    case LB_FMT_E3M2: return 3;
    case LB_FMT_E2M3: case LB_FMT_E2M1: return 1;
    default: return 127; /* BF16, F32 */
  }
}
LB_FN int lb_fmt_kind(int f) {
  switch (f) {
    case LB_FMT_E4M3: return LB_KIND_FN;
    case LB_FMT_E4M3FNUZ: case LB_FMT_E5M2FNUZ: return LB_KIND_FNUZ;
    case LB_FMT_E3M2: case LB_FMT_E2M3: case LB_FMT_E2M1: return LB_KIND_FINITE;
    default: return LB_KIND_IEEE;
  }
}
/* emax of an MX element format: exponent of its largest power of two. */
LB_FN int lb_fmt_emax(int f) {
  switch (f) {
    case LB_FMT_E4M3: return 8;
    case LB_FMT_E5M2: return 15;
    case LB_FMT_E3M2: return 4;
    case LB_FMT_E2M3: case LB_FMT_E2M1: return 2;
    default: return 0; /* INT8 */
  }
}
/* Total code width in bits (sign included). */
LB_FN int lb_fmt_bits(int f) { return f == LB_FMT_INT8 ? 8 : 1 + lb_fmt_ebits(f) + lb_fmt_mbits(f); }

/* Largest finite magnitude code. */
LB_FN uint lb_fmt_maxcode(int f) {
  uint e = LB_U(lb_fmt_ebits(f)), m = LB_U(lb_fmt_mbits(f));
  uint allm = (1u << (e + m)) - 1u;
  int k = lb_fmt_kind(f);
  if (k == LB_KIND_IEEE) return (((1u << e) - 2u) << m) | ((1u << m) - 1u);
  if (k == LB_KIND_FN) return allm - 1u;
  return allm;
}
LB_FN uint lb_fmt_inf(int f) { return ((1u << LB_U(lb_fmt_ebits(f))) - 1u) << LB_U(lb_fmt_mbits(f)); }
/* The NaN code lowbit writes (sign kept where the format has a signed NaN); 0 for finite formats. */
LB_FN uint lb_fmt_nan(int f, uint signbit) {
  int k = lb_fmt_kind(f);
  if (k == LB_KIND_IEEE) return signbit | lb_fmt_inf(f) | (1u << LB_U(lb_fmt_mbits(f) - 1));
  if (k == LB_KIND_FN) return signbit | ((1u << LB_U(lb_fmt_ebits(f) + lb_fmt_mbits(f))) - 1u);
  if (k == LB_KIND_FNUZ) return 0x80u;
  return 0u;
}

/* ---- the rounding core ------------------------------------------------------------------------ */
/* Rounds sig * 2^p (0 <= sig < 2^31) to nearest-even in a float format with `mbits` stored mantissa
 * bits and exponent bias `bias` (subnormals kept). Returns the magnitude code (exponent field <<
 * mbits | mantissa), which may exceed the format's largest finite code: the caller decides what
 * overflow means. Returns 0xFFFFFFFF when the exponent field would not fit in 8 bits. */
LB_FN uint lb_round_pack(uint sig, int p, int mbits, int bias) {
  if (sig == 0u) return 0u;
  int k = LB_MSB(sig) + p;              /* floor(log2(value)) */
  int kk = k > 1 - bias ? k : 1 - bias; /* binade, or the subnormal range */
  if (kk + bias - 1 >= 256) return 0xFFFFFFFFu;
  int sh = kk - mbits - p; /* quantum exponent minus p */
  uint q;
  if (sh <= 0) {
    q = sig << LB_U(-sh); /* exact: -sh <= mbits - msb(sig) */
  } else if (sh > 31) {
    q = 0u; /* below half a quantum: sig < 2^31 <= 2^(sh-1) */
  } else {
    q = sig >> LB_U(sh);
    uint rem = sig & ((1u << LB_U(sh)) - 1u);
    uint hlf = 1u << LB_U(sh - 1);
    if (rem > hlf || (rem == hlf && (q & 1u) != 0u)) q += 1u;
  }
  /* q <= 2^(mbits+1); a carry out of the mantissa bumps the exponent field, as it should. */
  return (LB_U(kk + bias - 1) << LB_U(mbits)) + q;
}

/* ---- encode: fp32 bits -> code ---------------------------------------------------------------- */
/* Encodes x * 2^-exp_shift (x given as fp32 bits) into format f. exp_shift is the MX block exponent
 * (0 for plain conversions). INT8 is the MXINT8 element (x * 64 rounded, clamped to ±127). */
LB_FN uint lb_encode(uint xb, int exp_shift, int f, bool saturate) {
  uint E = (xb >> 23) & 0xFFu;
  uint M = xb & 0x7FFFFFu;
  bool neg = (xb >> 31) != 0u;
  uint sig = E == 0u ? M : (M | 0x800000u);
  int p = (E == 0u ? 1 : LB_I(E)) - 150 - exp_shift;
  if (f == LB_FMT_INT8) {
    if (E == 0xFFu) return M != 0u ? 0u : (neg ? 0x81u : 0x7Fu);
    /* fixed point with quantum 2^0: a "format" whose subnormal range covers [0, 128) */
    uint qi = lb_round_pack(sig, p + 6, 7, -6);
    if (qi > 127u) qi = 127u;
    return neg ? ((256u - qi) & 0xFFu) : qi;
  }
  int kind = lb_fmt_kind(f);
  uint signbit = neg ? (1u << LB_U(lb_fmt_ebits(f) + lb_fmt_mbits(f))) : 0u;
  uint maxc = lb_fmt_maxcode(f);
  if (E == 0xFFu) {
    if (M != 0u) return lb_fmt_nan(f, signbit);
    if (saturate || kind == LB_KIND_FINITE) return signbit | maxc;
    return kind == LB_KIND_IEEE ? (signbit | lb_fmt_inf(f)) : lb_fmt_nan(f, signbit);
  }
  uint mag = lb_round_pack(sig, p, lb_fmt_mbits(f), lb_fmt_bias(f));
  if (mag > maxc) {
    if (saturate || kind == LB_KIND_FINITE) {
      mag = maxc;
    } else {
      return kind == LB_KIND_IEEE ? (signbit | lb_fmt_inf(f)) : lb_fmt_nan(f, signbit);
    }
  }
  if (mag == 0u && kind == LB_KIND_FNUZ) return 0u;
  return signbit | mag;
}

/* ---- decode: code -> fp32/fp16/bf16 bits ------------------------------------------------------ */
/* Decodes `code` of format f, multiplied by 2^exp_shift, into output format out_f (F32, F16 or
 * BF16), rounding to nearest-even where out_f cannot hold the value exactly (overflow gives ±inf). */
LB_FN uint lb_decode(uint code, int exp_shift, int f, int out_f) {
  uint sig;
  int p;
  bool neg;
  uint out_sign = 1u << LB_U(lb_fmt_ebits(out_f) + lb_fmt_mbits(out_f));
  if (f == LB_FMT_INT8) {
    code &= 0xFFu;
    neg = code >= 128u;
    sig = neg ? 256u - code : code;
    p = exp_shift - 6;
  } else {
    int e = lb_fmt_ebits(f), m = lb_fmt_mbits(f), kind = lb_fmt_kind(f);
    uint signbit = 1u << LB_U(e + m);
    uint mag = code & (signbit - 1u);
    neg = (code & signbit) != 0u;
    uint ef = mag >> LB_U(m);
    uint mf = mag & ((1u << LB_U(m)) - 1u);
    uint sgn = neg ? out_sign : 0u;
    if (kind == LB_KIND_IEEE && ef == (1u << LB_U(e)) - 1u)
      return mf != 0u ? lb_fmt_nan(out_f, sgn) : (sgn | lb_fmt_inf(out_f));
    if (kind == LB_KIND_FN && mag == signbit - 1u) return lb_fmt_nan(out_f, sgn);
    if (kind == LB_KIND_FNUZ && code == signbit) return lb_fmt_nan(out_f, 0u);
    sig = ef == 0u ? mf : (mf | (1u << LB_U(m)));
    p = (ef == 0u ? 1 : LB_I(ef)) - lb_fmt_bias(f) - m + exp_shift;
  }
  uint outm = lb_round_pack(sig, p, lb_fmt_mbits(out_f), lb_fmt_bias(out_f));
  if (outm > lb_fmt_maxcode(out_f)) outm = lb_fmt_inf(out_f);
  return (neg ? out_sign : 0u) | outm;
}

/* fp32 <-> fp16 / bf16 helpers (RNE, NaN kept quiet). */
LB_FN uint lb_f32_to_f16(uint xb) { return lb_encode(xb, 0, LB_FMT_F16, false); }
LB_FN uint lb_f32_to_bf16(uint xb) { return lb_encode(xb, 0, LB_FMT_BF16, false); }
/* fp16 -> fp32 is exact: the bits directly (equal to lb_decode(h, 0, F16, F32) for all 65536 codes). */
LB_FN uint lb_f16_to_f32(uint h) {
  uint sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
  if (e == 0x1Fu) return sign | (m != 0u ? 0x7FC00000u : 0x7F800000u);
  if (e != 0u) return sign | ((e + 112u) << 23) | (m << 13);
  if (m == 0u) return sign;
  uint k = LB_U(LB_MSB(m)); /* subnormal: m * 2^-24 with m's top bit at 2^k */
  return sign | ((k + 103u) << 23) | ((m << (23u - k)) & 0x7FFFFFu);
}
LB_FN uint lb_bf16_to_f32(uint h) { return (h & 0xFFFFu) << 16; }
/* Any source element (F32, F16 or BF16 bits) to fp32 bits, exactly. */
LB_FN uint lb_to_f32(uint bits, int src_f) {
  return src_f == LB_FMT_F16 ? lb_f16_to_f32(bits) : (src_f == LB_FMT_BF16 ? lb_bf16_to_f32(bits) : bits);
}
/* fp32 bits to an output element format (F32, F16 or BF16), RNE. */
LB_FN uint lb_from_f32(uint xb, int out_f) {
  return out_f == LB_FMT_F16 ? lb_f32_to_f16(xb) : (out_f == LB_FMT_BF16 ? lb_f32_to_bf16(xb) : xb);
}

/* ---- MX block scale --------------------------------------------------------------------------- */
/* |x| bits of a finite-or-not fp32 value; blocks reduce these with max (exact on every device). */
LB_FN uint lb_abs_bits(uint xb) { return xb & 0x7FFFFFFFu; }
LB_FN bool lb_is_finite_abs(uint absb) { return absb < 0x7F800000u; }

/* Shared exponent of an MX block from max |x| (finite), for element format f. */
LB_FN int lb_mx_exponent(uint amax_abs_bits, int f) {
  uint E = (amax_abs_bits >> 23) & 0xFFu;
  int fl = E == 0u ? -127 : LB_I(E) - 127; /* floor(log2 amax); subnormal/zero clamp below anyway */
  int e = fl - lb_fmt_emax(f);
  return e < -127 ? -127 : (e > 127 ? 127 : e);
}
/* E8M0 scale code for a block whose max |x| bits are amax_abs_bits (0xFF if the block had NaN/inf). */
LB_FN uint lb_mx_scale_code(uint amax_abs_bits, int f) {
  if (!lb_is_finite_abs(amax_abs_bits)) return LB_E8M0_NAN;
  return LB_U(lb_mx_exponent(amax_abs_bits, f) + 127);
}
/* Element code of x in a block with scale code sc (MX always saturates). */
LB_FN uint lb_mx_encode(uint xb, uint sc, int f) {
  if (sc == LB_E8M0_NAN) return 0u;
  return lb_encode(xb, LB_I(sc) - 127, f, true);
}
LB_FN uint lb_mx_decode(uint code, uint sc, int f, int out_f) {
  if (sc == LB_E8M0_NAN) return lb_fmt_nan(out_f, 0u);
  return lb_decode(code, LB_I(sc) - 127, f, out_f);
}

/* ---- correctly rounded fp32 multiply and divide in integers (for NVFP4's scales) --------------- */
/* Normalises a nonzero finite fp32 magnitude to sig in [2^23, 2^24) and returns the exponent p with
 * value = sig * 2^p (p written through the return of lb_norm_exp, sig through lb_norm_sig). */
LB_FN uint lb_norm_sig(uint absb) {
  uint E = absb >> 23, M = absb & 0x7FFFFFu;
  if (E != 0u) return M | 0x800000u;
  return M << LB_U(23 - LB_MSB(M));
}
LB_FN int lb_norm_exp(uint absb) {
  uint E = absb >> 23, M = absb & 0x7FFFFFu;
  if (E != 0u) return LB_I(E) - 150;
  return -149 - (23 - LB_MSB(M));
}
LB_FN uint lb_pack_f32(bool neg, uint mag) {
  if (mag > 0x7F7FFFFFu) mag = 0x7F800000u;
  return (neg ? 0x80000000u : 0u) | mag;
}
/* a * b, IEEE binary32, round to nearest even, subnormals kept. */
LB_FN uint lb_mul_f32(uint a, uint b) {
  bool neg = ((a ^ b) >> 31) != 0u;
  uint aa = lb_abs_bits(a), ab = lb_abs_bits(b);
  if (aa > 0x7F800000u || ab > 0x7F800000u) return 0x7FC00000u;
  if (aa == 0x7F800000u || ab == 0x7F800000u)
    return (aa == 0u || ab == 0u) ? 0x7FC00000u : lb_pack_f32(neg, 0x7F800000u);
  if (aa == 0u || ab == 0u) return lb_pack_f32(neg, 0u);
  uint A = lb_norm_sig(aa), B = lb_norm_sig(ab);
  /* 48-bit product A*B = H * 2^24 + L from 12-bit halves */
  uint ah = A >> 12, al = A & 0xFFFu, bh = B >> 12, bl = B & 0xFFFu;
  uint mid = ah * bl + al * bh;
  uint L = al * bl + ((mid & 0xFFFu) << 12);
  uint H = ah * bh + (mid >> 12) + (L >> 24);
  L &= 0xFFFFFFu;
  /* keep product >> 18 (30 bits) plus a sticky bit */
  uint sig = (((H << 6) | (L >> 18)) << 1) | ((L & 0x3FFFFu) != 0u ? 1u : 0u);
  int p = lb_norm_exp(aa) + lb_norm_exp(ab) + 17;
  return lb_pack_f32(neg, lb_round_pack(sig, p, 23, 127));
}
/* The 26 quotient bits of significands A, B in [2^23, 2^24) shifted left by one, with a sticky bit
 * (remainder != 0) in bit 0: q = floor(A * 2^k / B) with k = 25 (A >= B) or 26 (A < B), so that
 * q is in [2^25, 2^26). The device's float division gives an estimate (within a few units: every
 * target divides to 2.5 ulp or better, and anything under 2^-20 relative error is enough); the
 * remainder A * 2^k - q * B is then exact in wrapping 32-bit arithmetic because its true value is
 * below 2^31 in magnitude, and at most a few integer steps make 0 <= remainder < B
 * (lb_div_sig_correct: exact from any estimate within 127 units). The result is therefore exact and
 * identical on every device, whatever its division precision. */
LB_FN uint lb_div_sig_correct(uint A, uint B, uint q) {
  uint k = A < B ? 26u : 25u;
  uint r = (A << k) - q * B; /* mod 2^32; the sign bit set means the estimate was too large */
  while ((r & 0x80000000u) != 0u) {
    r += B;
    q -= 1u;
  }
  while (r >= B) {
    r -= B;
    q += 1u;
  }
  return (q << 1) | (r != 0u ? 1u : 0u);
}
LB_FN uint lb_div_sig(uint A, uint B) {
  float est = LB_F(A) / LB_F(B) * (A < B ? 67108864.0f : 33554432.0f);
  return lb_div_sig_correct(A, B, LB_U(est));
}
/* a / b, IEEE binary32, round to nearest even, subnormals kept. */
LB_FN uint lb_div_f32(uint a, uint b) {
  bool neg = ((a ^ b) >> 31) != 0u;
  uint aa = lb_abs_bits(a), ab = lb_abs_bits(b);
  if (aa > 0x7F800000u || ab > 0x7F800000u) return 0x7FC00000u;
  if (aa == 0x7F800000u) return ab == 0x7F800000u ? 0x7FC00000u : lb_pack_f32(neg, 0x7F800000u);
  if (ab == 0x7F800000u) return lb_pack_f32(neg, 0u);
  if (ab == 0u) return aa == 0u ? 0x7FC00000u : lb_pack_f32(neg, 0x7F800000u);
  if (aa == 0u) return lb_pack_f32(neg, 0u);
  uint A = lb_norm_sig(aa), B = lb_norm_sig(ab);
  int p = lb_norm_exp(aa) - lb_norm_exp(ab) - (A < B ? 1 : 0);
  return lb_pack_f32(neg, lb_round_pack(lb_div_sig(A, B), p - 26, 23, 127));
}

/* ---- NVFP4: E2M1 elements, an E4M3 scale per 16 elements, one fp32 tensor scale ---------------- */
#define LB_F32_ONE 0x3F800000u
#define LB_F32_SIX 0x40C00000u
#define LB_F32_2688 0x45280000u /* 448 * 6 */
/* tensor_scale = amax / (448*6) over the finite |x| of the tensor; 1 when amax is 0; the smallest
 * subnormal when the quotient underflows to 0 (so that block scales stay finite). */
LB_FN uint lb_nvfp4_tensor_scale(uint amax_abs_bits) {
  if (amax_abs_bits == 0u) return LB_F32_ONE;
  uint ts = lb_div_f32(amax_abs_bits, LB_F32_2688);
  return ts == 0u ? 1u : ts;
}
/* Block scale code: E4M3(amax_block / 6 / tensor_scale), RNE, saturating; NaN (0x7F) if the block
 * holds a NaN or ±inf. */
LB_FN uint lb_nvfp4_scale_code(uint block_amax_abs_bits, uint ts_bits) {
  if (!lb_is_finite_abs(block_amax_abs_bits)) return LB_E4M3_NAN;
  return lb_encode(lb_div_f32(lb_div_f32(block_amax_abs_bits, LB_F32_SIX), ts_bits), 0, LB_FMT_E4M3, true);
}
/* Element code: E2M1(x / (float(s) * tensor_scale)); 0 when the block scale is 0 or NaN. */
LB_FN uint lb_nvfp4_encode(uint xb, uint sc, uint ts_bits) {
  if (sc == 0u || sc == LB_E4M3_NAN) return 0u;
  uint d = lb_mul_f32(lb_decode(sc, 0, LB_FMT_E4M3, LB_FMT_F32), ts_bits);
  return lb_encode(lb_div_f32(xb, d), 0, LB_FMT_E2M1, true);
}
/* Decoded value e * s * tensor_scale (e*s is exact), into out_f. */
LB_FN uint lb_nvfp4_decode(uint code, uint sc, uint ts_bits, int out_f) {
  if (sc == LB_E4M3_NAN) return lb_fmt_nan(out_f, 0u);
  uint es = lb_mul_f32(lb_decode(code, 0, LB_FMT_E2M1, LB_FMT_F32), lb_decode(sc, 0, LB_FMT_E4M3, LB_FMT_F32));
  uint v = lb_mul_f32(es, ts_bits);
  return out_f == LB_FMT_F32 ? v : lb_encode(v, 0, out_f, false);
}

/* ---- packed code layouts ---------------------------------------------------------------------- */
/* Bytes one row of n codes takes: FP4 ceil(n/2); FP6 ceil(n/4)*3; 8-bit formats n. */
LB_FN uint lb_packed_row_bytes(uint n, int f) {
  int bits = lb_fmt_bits(f);
  if (bits == 4) return (n + 1u) / 2u;
  if (bits == 6) return ((n + 3u) / 4u) * 3u;
  return n;
}

/* ---- KV cache rows (kv_append; lowbit/attention.hpp pins the quantization) ---------------------- */
/* int8/int4 rows store zero = f16(min), scale = f16(lb_div_f32(max - min, L)) (1.0 when that is ±0)
 * and codes clamp(roundEven(lb_div_f32(x - zero, scale)), 0, L); NaN entries are ignored by min/max
 * and a row of NaNs counts as 0. Parallel kernels find min and max as the minimum / maximum of exact
 * integer keys of the fp16 bits, so any reduction order gives the bytes of a sequential `x < min`
 * scan, including which zero (+0 or -0, the first one in d order) becomes the row's zero. */
#define LB_KV_NO_MIN 0xFFFFFFFFu /* min key of a NaN: larger than every other key */
/* Order of an fp16 value: monotone in the value, +0 and -0 equal, inf included (0x0400..0xFC00). */
LB_FN uint lb_kv_order(uint h) {
  uint m = h & 0x7FFFu;
  return (h & 0x8000u) != 0u ? 0x8000u - m : 0x8000u + m;
}
LB_FN bool lb_kv_is_nan(uint h) { return (h & 0x7FFFu) > 0x7C00u; }
/* Min key of element d (< 256): order, then position (the first of equal values wins), then the sign
 * bit (which zero it was). */
LB_FN uint lb_kv_min_key(uint h, uint d) {
  return lb_kv_is_nan(h) ? LB_KV_NO_MIN : ((lb_kv_order(h) << 9) | (d << 1) | ((h >> 15) & 1u));
}
/* Max key: the order (0 for NaN, below every value). */
LB_FN uint lb_kv_max_key(uint h) { return lb_kv_is_nan(h) ? 0u : lb_kv_order(h); }
/* fp16 bits of an order; neg_zero picks -0 for the order of zero. */
LB_FN uint lb_kv_order_f16(uint ord, uint neg_zero) {
  if (ord < 0x8000u) return 0x8000u | (0x8000u - ord);
  return ord == 0x8000u ? (neg_zero << 15) : (ord - 0x8000u);
}
/* The row's fp16 zero (low 16 bits) and fp16 scale (high 16 bits) from its reduced min / max keys;
 * L = 255 (int8) or 15 (int4). */
LB_FN uint lb_kv_int_params(uint min_key, uint max_key, uint L) {
  uint zh = 0u, hh = 0u;
  if (min_key != LB_KV_NO_MIN) {
    zh = lb_kv_order_f16(min_key >> 9, min_key & 1u);
    hh = lb_kv_order_f16(max_key, 0u);
  }
  LB_PRECISE float range = LB_AS_F32(lb_f16_to_f32(hh)) - LB_AS_F32(lb_f16_to_f32(zh));
  uint sh = lb_f32_to_f16(lb_div_f32(LB_AS_U32(range), LB_AS_U32(LB_F(L))));
  if ((sh & 0x7FFFu) == 0u) sh = 0x3C00u;
  return (sh << 16) | zh;
}
/* int8/int4 code of fp16 x given the row's zero and scale as fp32 bits (NaN -> 0), by its definition:
 * clamp(roundEven(lb_div_f32(x - zero, scale)), 0, L). The kernels use lb_kv_int_code (below), which
 * tests show equal to this for every fp16 x over rows of every kind. */
LB_FN uint lb_kv_int_code_by_division(uint xh, uint zero_f32, uint scale_f32, uint L) {
  LB_PRECISE float diff = LB_AS_F32(lb_f16_to_f32(xh)) - LB_AS_F32(zero_f32);
  float q = LB_RINT(LB_AS_F32(lb_div_f32(LB_AS_U32(diff), scale_f32)));
  if (!(q > 0.0f)) return 0u;
  return q < LB_F(L) ? LB_U(q) : L;
}
/* The same code without a division. With q = diff / scale exactly and any estimate qe within 1/4 of
 * it, the answer is n = floor(qe) or n + 1, decided by where the correctly rounded quotient fl(q)
 * lies against b = n + 0.5 (for 0 <= n < L; outside, the clamp decides). scale * b is exact in fp32
 * (scale is an fp16 value: 11 significant bits, b at most 9), so d = diff - scale * b is exact
 * whenever q is near b (Sterbenz) and has the right sign and size otherwise. fl(q) == b exactly when
 * |q - b| <= half an ulp of b (a quarter below b = 0.5, a power of two; ties go to b, whose last
 * significand bit is 0): then roundEven picks the even one of n, n + 1. Only plain fp32 arithmetic
 * on exact values, so every device gives the same code. */
LB_FN uint lb_kv_int_code(uint xh, uint zero_f32, uint scale_f32, uint L) {
  LB_PRECISE float diff = LB_AS_F32(lb_f16_to_f32(xh)) - LB_AS_F32(zero_f32);
  float s = LB_AS_F32(scale_f32);
  float qe = diff * (1.0f / s);
  bool zero = !(s > 0.0f && s < LB_AS_F32(0x7F800000u)) || !(qe >= 0.0f); /* inf / NaN scale, NaN x, -inf */
  bool top = !(qe < LB_F(L));                                             /* also diff = +inf */
  uint n = (zero || top) ? 0u : LB_U(qe);                                 /* floor: qe >= 0 */
  LB_PRECISE float b = LB_F(n) + 0.5f;
  LB_PRECISE float d = diff - s * b;
  int eb = LB_MSB(2u * n + 1u) - 1; /* floor(log2 b) */
  LB_PRECISE float half_up = s * LB_AS_F32(LB_U(127 + eb - 24) << 23);
  float half_down = n == 0u ? 0.5f * half_up : half_up;
  uint up = d > half_up ? 1u : (d < -half_down ? 0u : (n & 1u));
  return zero ? 0u : (top ? L : n + up);
}
/* FP8 code of fp16 x with the fp32 scale s (bits) by its definition: E4M3/E5M2(lb_div_f32(x, s)), RNE,
 * saturating. The kernels use lb_kv_fp8_code (end of this file), which tests show equal to this. */
LB_FN uint lb_kv_fp8_code_by_division(uint xh, uint s_f32, int f) {
  return lb_encode(lb_div_f32(lb_f16_to_f32(xh), s_f32), 0, f, true);
}

/* ---- W4A8: QoQ weights x int8 activations (lowbit/w4a8.hpp) ------------------------------------ */
/* Four QoQ codes of one weight word as bytes: rows 0..3 (hi = 0) or rows 4..7 (hi = 1) of its 8-row block. */
LB_FN uint lb_qoq_codes4(uint word, uint hi) { return (word >> (4u * hi)) & 0x0F0F0F0Fu; }
/* (u - z) * s2 in four int8 lanes (two's-complement bytes). u * s2 <= 240 never carries into the next byte,
 * and the lane-wise subtraction ((p | 0x80) - (zz & 0x7F) >= 1 per lane) borrows nothing across lanes; the
 * result is exact because QoQ keeps |(u - z) * s2| <= 127. */
LB_FN uint lb_qoq_w8x4(uint codes4, uint s2, uint z) {
  uint p = codes4 * s2;
  uint zz = (z * s2) * 0x01010101u;
  return ((p | 0x80808080u) - (zz & 0x7F7F7F7Fu)) ^ ((p ^ ~zz) & 0x80808080u);
}
/* Signed byte i (0..3) of a 4x8-packed word. */
LB_FN int lb_i8_lane(uint w, uint i) {
  int b = LB_I((w >> (8u * i)) & 0xFFu);
  return b >= 128 ? b - 256 : b;
}
/* Portable dot product of two 4x8-packed signed words (what OpSDotKHR / dot_4x8packed_ss_int compute). */
LB_FN int lb_dot4_i8(uint a, uint b) {
  return lb_i8_lane(a, 0u) * lb_i8_lane(b, 0u) + lb_i8_lane(a, 1u) * lb_i8_lane(b, 1u) +
         lb_i8_lane(a, 2u) * lb_i8_lane(b, 2u) + lb_i8_lane(a, 3u) * lb_i8_lane(b, 3u);
}
/* The W4A8 epilogue before the bias: (float(acc) * a_scale) * s1, in this order, each product rounded to
 * fp32 (no fused multiply-add), so every backend produces the same bits from the same exact acc. */
LB_FN float lb_w4a8_scale(int acc, float a_scale, uint s1_f16) {
  LB_PRECISE float r = LB_F(acc) * a_scale;
  LB_PRECISE float o = r * LB_AS_F32(lb_f16_to_f32(s1_f16));
  return o;
}
/* The whole W4A8 epilogue: lb_w4a8_scale plus the bias (0 without), each rounded to fp32; a NaN leaves as
 * the quiet NaN 0x7FC00000 (GPUs make other payloads: an H100 gave 0x7FFFFFFF), so that every backend
 * writes the same bits (a bit test, which no fast-math setting folds away). */
LB_FN float lb_w4a8_epilogue(int acc, float a_scale, uint s1_f16, float bias) {
  LB_PRECISE float v = lb_w4a8_scale(acc, a_scale, s1_f16) + bias;
  return (LB_AS_U32(v) & 0x7FFFFFFFu) > 0x7F800000u ? LB_AS_F32(0x7FC00000u) : v;
}


/* ---- W4A8 activations: per-token int8 with an optional fused RMSNorm ---------------------------- */
/* Context::quantize_activations_int8 (lowbit.hpp ActInt8). Every backend computes the same bits:
 *  RMSNorm (optional): y = ((x * 2^-e) * r) * w, each product rounded (lb_mul_f32), where
 *    e = lb_rms_shift(absmax(x), eps) makes the scaled row's squares safe from overflow and denormals,
 *    r = lb_rsqrt_f32(mean + eps * 2^-2e) correctly rounded, mean = lb_div_f32(sum, K) and sum the sum of
 *    lb_rms_square(x_k * 2^-e) in a fixed order: LB_ACT_LANES lane partials (lane l adds k = l, l + 256, ...
 *    in ascending k, starting from 0), then a tree (lane l += lane l + s for s = 128, 64, ..., 1). The adds
 *    and squares are the only native float operations: their operands and results are normal (or zero)
 *    and they are never contracted into FMAs (LB_PRECISE, OpenCL FP_CONTRACT OFF, -ffp-contract=off).
 *  Quantization of y (or x without RMSNorm): scale = max(lb_div_f32(absmax, 127), 2^-126); q =
 *    clamp(rint(y / scale), -127, 127) with the exact division; an all-zero row: scale 1, codes 0; a row
 *    holding NaN or inf (after RMSNorm) gets scale NaN and codes 0. */
#define LB_ACT_LANES 256
#define LB_F32_127 0x42FE0000u
#define LB_F32_QNAN 0x7FC00000u
/* floor(log2(|x|)) of a nonzero finite fp32 magnitude (subnormals included). */
LB_FN int lb_ilogb_f32(uint absb) { return lb_norm_exp(absb) + 23; }
/* x * 2^s, RNE, subnormals kept, overflow to inf; zero, inf and NaN pass through. */
LB_FN uint lb_ldexp_f32(uint xb, int s) {
  uint ab = lb_abs_bits(xb);
  if (ab == 0u || ab >= 0x7F800000u) return xb;
  return lb_pack_f32((xb >> 31) != 0u, lb_round_pack(lb_norm_sig(ab), lb_norm_exp(ab) + s, 23, 127));
}
/* The RMSNorm scaling exponent e: max(ilogb(absmax), floor(ilogb(eps) / 2)) over the nonzero ones (0 when
 * both are 0). The scaled row then has |x * 2^-e| < 2 and eps * 2^-2e < 4. */
LB_FN int lb_rms_shift(uint absmax_bits, uint eps_bits) {
  int e = -1000;
  if (absmax_bits != 0u) e = lb_ilogb_f32(absmax_bits);
  if (eps_bits != 0u) {
    int h = lb_ilogb_f32(eps_bits);
    h = (h < 0 ? h - 1 : h) / 2;
    e = h > e ? h : e;
  }
  return e == -1000 ? 0 : e;
}
/* The square of a scaled element as it enters the sum: 0 when |x| < 2^-62 (so that no square is
 * subnormal, whatever the device's denormal mode), else x * x rounded. */
LB_FN float lb_rms_square(uint xs_bits) {
  uint a = lb_abs_bits(xs_bits);
  if (a < 0x20800000u) return 0.0f;
  LB_PRECISE float v = LB_AS_F32(a) * LB_AS_F32(a);
  return v;
}
/* Flushes a subnormal fp32 (bits) to +0. */
LB_FN uint lb_flush_subnormal(uint b) { return lb_abs_bits(b) < 0x00800000u ? 0u : b; }
/* Whether a * a * b >= 2^t, exactly (a < 2^26, b < 2^25), in 12-bit limbs. */
LB_FN bool lb_sq_mul_ge_pow2(uint a, uint b, int t) {
  uint a0 = a & 0xFFFu, a1 = (a >> 12) & 0xFFFu, a2 = a >> 24;
  uint b0 = b & 0xFFFu, b1 = (b >> 12) & 0xFFFu, b2 = b >> 24;
  uint s[5];
  uint c = a0 * a0;
  s[0] = c & 0xFFFu;
  c = (c >> 12) + 2u * a0 * a1;
  s[1] = c & 0xFFFu;
  c = (c >> 12) + 2u * a0 * a2 + a1 * a1;
  s[2] = c & 0xFFFu;
  c = (c >> 12) + 2u * a1 * a2;
  s[3] = c & 0xFFFu;
  s[4] = (c >> 12) + a2 * a2;
  uint d[7];
  c = 0u;
  for (int j = 0; j < 7; ++j) {
    for (int i = 0; i < 5; ++i) {
      int l = j - i;
      if (l >= 0 && l <= 2) c += s[i] * (l == 0 ? b0 : (l == 1 ? b1 : b2));
    }
    d[j] = j < 6 ? (c & 0xFFFu) : c;
    c = j < 6 ? (c >> 12) : 0u;
  }
  int top = t / 12;
  bool ge = false;
  for (int j = 0; j < 7; ++j) {
    if (j > top && d[j] != 0u) ge = true;
    if (j == top && (d[j] >> LB_U(t - 12 * top)) != 0u) ge = true;
  }
  return ge;
}
/* 1 / sqrt(v), correctly rounded (RNE), for a positive finite v (bits): the device's estimate is corrected
 * exactly in integers (no ties exist), so every device returns the same bits whatever its precision. */
LB_FN uint lb_rsqrt_f32(uint vb) {
  uint V = lb_norm_sig(vb);
  int b = lb_norm_exp(vb); /* v = V * 2^b */
  if ((b & 1) != 0) {
    V = V << 1;
    b = b - 1;
  }
  /* 1 / sqrt(V) = R * 2^-k with R in [2^23, 2^24] */
  int k = V <= 0x1000000u ? 35 : 36;
  float est = LB_RSQRT_EST(LB_F(V)) * (k == 35 ? 34359738368.0f : 68719476736.0f);
  uint R = est >= 33554432.0f ? 33554432u : (est <= 4194304.0f ? 4194304u : LB_U(est));
  int t = 2 * k + 2; /* R is the rounding iff (2R - 1)^2 V < 2^t < (2R + 1)^2 V */
  while (!lb_sq_mul_ge_pow2(2u * R + 1u, V, t)) R += 1u;
  while (lb_sq_mul_ge_pow2(2u * R - 1u, V, t)) R -= 1u;
  return lb_round_pack(R, -k - b / 2, 23, 127);
}
/* The row scale from the absmax of its (normalised) values: NaN if not finite, 1 if zero, and never below the
 * smallest normal fp32 2^-126 (a row with absmax < 127 * 2^-126 gets 2^-126, so no device flushes a scale). */
LB_FN uint lb_act_scale(uint absmax_bits) {
  if (absmax_bits >= 0x7F800000u) return LB_F32_QNAN;
  if (absmax_bits == 0u) return LB_F32_ONE;
  uint s = lb_div_f32(absmax_bits, LB_F32_127);
  return s < 0x00800000u ? 0x00800000u : s;
}
/* The int8 code of y (fp32 bits) for a row scale (0 when the scale is NaN). */
LB_FN int lb_act_code(uint yb, uint scale_bits) {
  if (lb_abs_bits(scale_bits) > 0x7F800000u) return 0;
  float q = LB_RINT(LB_AS_F32(lb_div_f32(yb, scale_bits)));
  if (q > 127.0f) return 127;
  if (q < -127.0f) return -127;
  return LB_I(q);
}
/* The RMSNorm factor r (bits) from the tree-summed squares and the row's shift: 0 when mean + eps is 0
 * (an all-zero row with eps 0) or not finite (a row holding inf or NaN, whose y is then NaN). */
LB_FN uint lb_rms_factor(float sum, uint k, uint eps_bits, int e) {
  uint mean = lb_flush_subnormal(lb_div_f32(LB_AS_U32(sum), LB_AS_U32(LB_F(k))));
  uint eps_s = lb_flush_subnormal(lb_ldexp_f32(eps_bits, -2 * e));
  LB_PRECISE float v = LB_AS_F32(mean) + LB_AS_F32(eps_s);
  return v > 0.0f && LB_AS_U32(v) < 0x7F800000u ? lb_rsqrt_f32(LB_AS_U32(v)) : 0u;
}
/* The normalised value ((x * 2^-e) * r) * w of one element (x, w as fp32 bits). */
LB_FN uint lb_rms_apply(uint xb, int e, uint r_bits, uint w_bits) {
  return lb_mul_f32(lb_mul_f32(lb_ldexp_f32(xb, -e), r_bits), w_bits);
}

/* ---- KV cache elements (attention's in-register dequantization) ------------------------------- */
/* A cache row is read as 32-bit words: word w holds 2 fp16 values (KV format 0; each language
 * decodes those with its native half conversion), 4 int8 codes (1), 8 int4 codes (2, low nibble
 * first), or 4 FP8 codes (3 E4M3, 4 E5M2), the lowest element in the lowest bits. */
/* FP8 byte -> fp32 without fp16/fp32 subnormal arithmetic (exact on every device; NaN codes give NaN), in
 * few operations: the magnitude's exponent and mantissa bits move into fp32's and the bias difference is
 * added (E4M3 127 - 7, E5M2 127 - 15), which is the value of every normal code. A subnormal code (exponent
 * 0) then reads as 2^(1-bias-1)·(1 + m/2^mb), a normal fp32 f, and its value m·2^(1-bias-mb) is 2f - 2^(1-bias)
 * exactly. E4M3 0x7F / E5M2 exponent 31 (inf, NaN) are selected apart. */
LB_FN float lb_kv_e4m3_value(uint b) {
  uint mag = b & 0x7Fu;
  float f = LB_AS_F32((mag << 20) + (120u << 23));
  float v = mag < 8u ? 2.0f * f - 0.015625f : f; /* 2^-6 */
  return mag == 0x7Fu ? LB_AS_F32(0x7FC00000u) : LB_AS_F32(LB_AS_U32(v) | ((b & 0x80u) << 24));
}
LB_FN float lb_kv_e5m2_value(uint b) {
  uint mag = b & 0x7Fu;
  float f = LB_AS_F32((mag << 21) + (112u << 23));
  float v = mag < 4u ? 2.0f * f - 0.00006103515625f : f; /* 2^-14 */
  uint bits = mag >= 0x7Cu ? (0x7F800000u | ((mag & 3u) << 21)) : LB_AS_U32(v);
  return LB_AS_F32(bits | ((b & 0x80u) << 24));
}
#if defined(__OPENCL_VERSION__)
/* lb_kv_e4m3_value (kv_fmt 3) / lb_kv_e5m2_value (4) of 16 bytes at once, lane i from byte i: the same
 * formulas in OpenCL vector types, so that CPU devices decode a chunk with SIMD instructions. */
LB_FN float16 lb_kv_fp8_values16(uint16 b, uint kv_fmt) {
  uint16 mag = b & 0x7Fu, sign = (b & 0x80u) << 24;
  if (kv_fmt == 3u) {
    float16 f = as_float16((mag << 20) + (120u << 23));
    uint16 bits = as_uint16(select(f, 2.0f * f - 0.015625f, mag < 8u)) | sign;
    return as_float16(select(bits, (uint16)(0x7FC00000u), mag == 0x7Fu));
  }
  float16 f = as_float16((mag << 21) + (112u << 23));
  uint16 bits = select(as_uint16(select(f, 2.0f * f - 0.00006103515625f, mag < 4u)), 0x7F800000u | ((mag & 3u) << 21),
                       mag >= 0x7Cu);
  return as_float16(bits | sign);
}
#endif
/* Element e of cache word w in KV format 1..4: the int code (as a float), or the FP8 value before its
 * per-tensor / per-head scale. */
LB_FN float lb_kv_code_value(uint w, uint e, uint kv_fmt) {
  /* codes < 2^8 convert through int: one signed conversion (SIMD CPUs lack a single unsigned one), same value */
  if (kv_fmt == 2u) return LB_F(LB_I((w >> (4u * e)) & 0xFu));
  uint b = (w >> (8u * e)) & 0xFFu;
  if (kv_fmt == 1u) return LB_F(LB_I(b));
  return kv_fmt == 3u ? lb_kv_e4m3_value(b) : lb_kv_e5m2_value(b);
}
/* int8/int4 rows: value = code * scale + zero (fp16 scale and zero of the row, in fp32). */
LB_FN float lb_kv_int_value(float code, float scale, float zero) { return code * scale + zero; }

/* ---- FP8 KV codes without a division (kv_append) ------------------------------------------------ */
/* FP8 (E4M3 / E5M2) magnitude code of q >= 0 rounded toward zero, capped at the largest finite code
 * (inf and NaN bits count as huge): the lower of the two codes around q. */
LB_FN uint lb_kv_fp8_floor_code(float q, int f) {
  uint b = LB_AS_U32(q), e = b >> 23;
  uint mb = LB_U(lb_fmt_mbits(f)), bias = LB_U(lb_fmt_bias(f));
  uint c = e >= 128u - bias ? ((e - (127u - bias)) << mb) | ((b & 0x7FFFFFu) >> (23u - mb))
                            : LB_U(q * LB_AS_F32((126u + bias + mb) << 23)); /* subnormals: q / min step */
  uint maxc = lb_fmt_maxcode(f);
  return c < maxc ? c : maxc;
}
/* lb_kv_fp8_code_by_division without a division: s_recip is any estimate of 1 / s within 2^-10 (the
 * caller computes it once per row; s > 0 finite, as KV caches require). The estimate x / s ~ |x| * s_recip
 * picks the lower code c of the two around the quotient q; what remains is where the correctly rounded
 * quotient fl(q) lies against the midpoint m of c and c + 1 (m has at most 5 significant bits).
 * fl(q) == m exactly when |q - m| <= half an fp32 ulp h of m (ties go to m: its last bit is 0; below a
 * power of two the ulp halves), and RNE then picks the even code. So everything hangs on the sign of
 * d = |x| - s * m against s * h: s is split into s_hi (its top 12 bits) + s_lo, whose products with m
 * are exact, and |x| - s_hi * m is exact when q is near m (Sterbenz), so d is exact wherever the
 * comparison is close and has the right sign and size elsewhere; s * h is a power-of-two scaling.
 * Plain fp32 arithmetic on exact values (an FMA changes nothing), so every device gives the same code. */
LB_FN uint lb_kv_fp8_code(uint xh, uint s_f32, float s_recip, int f) {
  uint xb = lb_f16_to_f32(xh), ab = xb & 0x7FFFFFFFu;
  if (ab > 0x7F800000u) return lb_fmt_nan(f, 0u); /* NaN x (the division's NaN is positive) */
  float ax = LB_AS_F32(ab), s = LB_AS_F32(s_f32);
  uint c = ab == 0u ? 0u : lb_kv_fp8_floor_code(ax * s_recip, f);
  uint kvf = f == LB_FMT_E4M3 ? 3u : 4u;
  LB_PRECISE float m = 0.5f * (lb_kv_code_value(c, 0u, kvf) + lb_kv_code_value(c + 1u, 0u, kvf));
  float s_hi = LB_AS_F32(s_f32 & 0xFFFFF000u);
  LB_PRECISE float s_lo = s - s_hi;
  LB_PRECISE float d = (ax - s_hi * m) - s_lo * m;
  uint mbits = LB_AS_U32(m);
  LB_PRECISE float t_up = s * LB_AS_F32(((mbits >> 23) - 24u) << 23);   /* s * h */
  LB_PRECISE float t_down = (mbits & 0x7FFFFFu) == 0u ? 0.5f * t_up : t_up; /* m a power of two */
  uint up = d > t_up ? 1u : (d < -t_down ? 0u : (c & 1u));
  uint mag = c + up, maxc = lb_fmt_maxcode(f); /* past the largest finite code: saturate */
  return ((xb >> 24) & 0x80u) | (mag < maxc ? mag : maxc);
}

#if defined(__cplusplus)
}  // namespace lowbit::fmt
#endif
#endif /* LOWBIT_FORMATS_H */
