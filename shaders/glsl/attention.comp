// attention.comp — fused attention over the quantized, paged KV cache (lowbit/attention.hpp).
//
// Build-time entry kinds: DECODE, PREFILL, MERGE. Format, head dim and tile shapes are specialization
// constants (attention_common.glsl and below). K/V are dequantized in registers (int: per-row
// scale/zero applied to the dot product / to the weight; FP8: per-head scale folded into q and the
// output); softmax is online in fp32.
//
// DECODE: workgroup (split, (seq, kv head, query-head chunk)). The query heads of one kv head share
// every K/V row read: each lane group serves GC of them (q and accumulators in its registers), and the HS
// head sets of lane groups serve HS x GC (groups grp, grp + HS, ... read the same keys: set grp % HS).
// Per step of KPS keys a lane group (LPR lanes per key row) loads its chunks of K and V, dots the K chunks
// with its q slices (registers), sums the partial dots across the group (subgroup shuffles or shared
// memory), updates its online softmax and accumulates p·V into its chunks of the head dim.
// With LPR 1 (CPU drivers: an invocation holds whole rows) there is nothing to reduce across lanes: each
// invocation runs its own online softmax over its keys. The lane groups' states are merged at the end
// through shared memory, DM elements of the head dim at a time (DM < D where NW x D floats do not fit).
// With several splits the unnormalised (acc, max, sum) go to the partials and MERGE combines them
// (log-sum-exp) in a second dispatch, so workgroups never wait on each other.
// PREFILL: workgroup (tile of BQ rows, (seq, kv head)); a row is a (query, query head) pair, the G query
// heads of the kv head side by side, so each K/V tile serves the whole GQA group. Key tiles outside the
// causal / window range are skipped. Per tile of BK keys: K is dequantized into shared memory (16-byte
// loads of codes, neighbouring invocations on neighbouring loads of a row), S = QKᵀ is computed as an
// RQ x RK register tile per invocation (vec4 fma into vec4 accumulators, summed once at the end), V is
// dequantized while BQ invocations run the online softmax (fp32), and O += PV as an RP x DV register tile
// (DV vec4 columns) per invocation.
// Bank analysis (32 banks of 4 bytes; a 16-byte access is served per 8 lanes, each lane a 4-bank group;
// slot = vec4 index, its bank group = slot mod 8). q_s / kv_s rows are RS = (D/4 | 1) vec4 apart: odd.
//  * QKᵀ: lane kg (consecutive) reads kv_s[(kg + NKG·j)·RS + d4]: 8 consecutive key rows at one d4 are
//    8 slots RS apart, RS odd -> 8 different bank groups. q_s[(rg + NRG·i)·RS + d4]: lanes of one rg read
//    one address (broadcast); with NKG = 4 two rows RS apart -> two groups, each broadcast.
//  * PV: lanes dg (consecutive) read kv_s[k·RS + dg + NDG·c]: consecutive slots of one row (NDG = 4: each
//    slot read by 2 lanes, broadcast); s_s[(pg + NRP·i)·SS + k], SS = BK + 1 floats: one row per 8 lanes
//    (broadcast) or two rows SS apart (odd: different banks). The softmax lanes t read s_s[t·SS + k]:
//    t·SS mod 32 differ for 32 consecutive t.
//  * The stores that fill a tile (once per tile, against BQ/RQ reads of each K vec4) are the only ones
//    that may conflict: lane ch writes the CE4 vec4 of its load at ch·CE4 + c, 2-way (fp16) to 8-way (int4).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "attention_common.glsl"

#if defined(DECODE)
#extension GL_EXT_control_flow_attributes : require
#if defined(SUBGROUP_REDUCE)
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
layout(constant_id = 3) const uint GC = 1;   // query heads per workgroup
layout(constant_id = 4) const uint LPR = 8;  // lanes per key row: a power of two (<= subgroup size with SUBGROUP_REDUCE)
layout(constant_id = 7) const uint KPS = 4;  // keys per step of a lane group (divides the page size)
layout(constant_id = 8) const bool PREFETCH = true;  // the next step's loads in flight during this step's math
layout(constant_id = 9) const uint CE = 8;   // elements per chunk (attn::plan_decode): fp16 8 (16 bytes); int8 /
                                             // fp8 16 (16 bytes) or 8 (8 bytes); int4 16 (8 bytes) or 8 (4 bytes)
layout(constant_id = 10) const uint DMS = 0;  // head-dim elements the final merge of the lane groups sums at once
const uint DM = DMS == 0u ? D : DMS;          // (0: all; a spec constant's default must be a literal)
layout(constant_id = 11) const uint HS = 1;   // head sets: lane groups grp % HS serve query heads of their own
                                             // (GC each), reading the same keys (a power of two dividing NW)
const uint VW = CE / EPW;                    // words per chunk: 4, 2 or 1
const uint NCH = D / CE;                     // chunks per cache row
const uint CPL = (NCH + LPR - 1u) / LPR;     // chunks per lane (lane l owns chunks l, l + LPR, ...)
const uint E = CPL * CE;                     // elements per lane
const uint NW = WG / LPR;                    // lane groups
const uint NWH = NW / HS;                    // lane groups of a head set, each streaming its own pages
const uint NK = KPS * CPL;                   // chunks a lane loads per step, per tensor
const uint NS = KPS * GC;                    // logits per step
const uint NER = (NS + GC + LPR - 1u) / LPR;  // exps per lane and step when the group shares them

layout(set = 0, binding = 1, std430) readonly buffer K4 { uvec4 k4[]; };
layout(set = 0, binding = 1, std430) readonly buffer K2 { uvec2 k2[]; };
layout(set = 0, binding = 2, std430) readonly buffer V4 { uvec4 v4[]; };
layout(set = 0, binding = 2, std430) readonly buffer V2 { uvec2 v2[]; };

#if defined(SUBGROUP_REDUCE)
shared float red_s[NW * DM];
#else
const uint RED_STEP = LPR > 1u ? 2u * WG * KPS * GC : 0u;  // the per-step partial dots (double buffered)
const uint RED = NW * DM > RED_STEP ? NW * DM : RED_STEP;   // or the final merge
shared float red_s[RED];
#endif
shared float ml_s[2u * NW];

// Per-invocation state, module-scope (arrays sized by specialization constants cannot be passed to
// functions): a lane's loads of one step live in slot n & 1 of kb..validb (double buffering through
// registers; slots are constants after inlining): the chunks of KPS keys of K and V, their per-row
// fp16 scale and zero packed in one word (int formats; 1 and 0 otherwise), a bit per key that exists.
// Then this lane's q slice, its online-softmax state and accumulators. Every index into these arrays
// is a compile-time constant after unrolling: an array indexed by a lane-dependent value would live in
// memory, not registers, on GPUs (local memory on NVIDIA), and so would everything it touches.
const uint NK2 = 2u * NK, KPS2 = 2u * KPS, GE = GC * E;
const uint SZ_ONE = 0x3C00u;                 // packHalf2x16(vec2(1.0, 0.0)): scale 1, zero 0
#if defined(SUBGROUP_REDUCE)
// Int formats with shuffles: lane l of a group loads the scale / zero words of key l % KPS only and the
// group shares them by shuffles (a slot holds 2 words instead of 2 KPS; 4 word loads per step, not 4 KPS)
const bool SZ_SHARED = INT_FMT && LPR >= KPS;
#else
const bool SZ_SHARED = false;
#endif
const uint SZN = SZ_SHARED ? 2u : KPS2;      // scale / zero words per tensor: one per slot, or one per (slot, key)
uvec4 kb[NK2], vb[NK2];
uint ksz[SZN], vsz[SZN];
uint validb[2];
float xr[E];   // one dequantized key / value slice
float sr[NS];  // the step's logits, then probabilities
float qr[GE];  // q slice per head, scaled
float qs[GC], m[GC], l[GC], zacc[GC];  // q slice sum (int zero term), running max / sum, zero accumulator
float acc[GE];

// A loaded chunk, dequantized into xr[at .. at + CE).
void unpack_chunk(uvec4 w, uint at) {
  [[unroll]] for (uint i = 0u; i < VW; ++i) {
    float v[EPW];
    unpack_word(w[i], v);
    [[unroll]] for (uint e = 0u; e < EPW; ++e) xr[at + i * EPW + e] = v[e];
  }
}

// Loads step n of the lane group `gi` of its head set: pages pa + gi, pa + gi + NWH, ... of [pa, pb), KPS keys
// of a page per step.
void fetch(uint n, const uint sl, uint gi, uint lane, uint b, uint hk, uint pa, uint pb, int k0, int s1) {
  const uint sk = sl * KPS, sc = sl * NK;
  const uint spp = pc.page_size / KPS;
  uint pidx = pa + gi + NWH * (n / spp);
  uint off = (n % spp) * KPS;
  uint valid = 0u, myrow = 0u;
  bool myok = false;
  // Every load below is unconditional, its address clamped to a valid one (table column 0, page 0, the
  // row's last chunk) and its value selected away where it does not count: a load inside a branch made
  // RADV's compiler wait for it before the branch (RDNA3 statistics: the step's loads in flight two or three
  // at a time instead of all together); NVIDIA's compiler loses nothing by it.
  uint entry = uint(block_table[b * pc.max_blocks + (pidx < pb ? pidx : 0u)]);  // one table entry per step
  uint page = pidx < pb ? entry : 0u;
  [[unroll]] for (uint i = 0u; i < KPS; ++i) {
    int j = int(pidx * pc.page_size + off + i);
    bool ok = pidx < pb && j >= k0 && j < s1;
    uint row = ((page * pc.page_size + off + i) * pc.kv_heads + hk);
    if (ok) valid |= 1u << i;
    if (SZ_SHARED) {
      if (lane % KPS == i) myrow = row, myok = ok;  // a select: i is a constant
    } else if (INT_FMT) {
      uint ks = scale_zero(false, row), vs = scale_zero(true, row);
      ksz[sk + i] = ok ? ks : SZ_ONE;
      vsz[sk + i] = ok ? vs : SZ_ONE;
    } else {
      ksz[sk + i] = SZ_ONE, vsz[sk + i] = SZ_ONE;
    }
    [[unroll]] for (uint c = 0u; c < CPL; ++c) {
      uint ch = lane + LPR * c;
      uint w = row * RW + min(ch, NCH - 1u) * VW;
      uvec4 kw, vw;
      if (VW == 4u) {
        kw = k4[w >> 2];
        vw = v4[w >> 2];
      } else if (VW == 2u) {
        kw = uvec4(k2[w >> 1], 0u, 0u);
        vw = uvec4(v2[w >> 1], 0u, 0u);
      } else {
        kw = uvec4(k_words[w], 0u, 0u, 0u);
        vw = uvec4(v_words[w], 0u, 0u, 0u);
      }
      bool use = ok && ch < NCH;
      kb[sc + i * CPL + c] = use ? kw : uvec4(0u);
      vb[sc + i * CPL + c] = use ? vw : uvec4(0u);
    }
  }
  validb[sl] = valid;
  if (SZ_SHARED) {
    uint ks = scale_zero(false, myrow), vs = scale_zero(true, myrow);  // (SZ_SHARED: an int format)
    ksz[sl] = myok ? ks : SZ_ONE;
    vsz[sl] = myok ? vs : SZ_ONE;
  }
}

// The scale (x) and zero (y) of key i of slot sl (all invocations must call it: shuffles when shared).
vec2 key_scale_zero(bool is_v, const uint sl, uint i) {
#if defined(SUBGROUP_REDUCE)
  if (SZ_SHARED) {
    uint src = (gl_SubgroupInvocationID & ~(LPR - 1u)) + i;
    return unpackHalf2x16(subgroupShuffle(is_v ? vsz[sl] : ksz[sl], src));
  }
#endif
  return unpackHalf2x16(is_v ? vsz[sl * KPS + i] : ksz[sl * KPS + i]);
}

#if defined(SUBGROUP_REDUCE)
const uint NSP = NS <= 2u ? NS : NS <= 4u ? 4u : NS <= 8u ? 8u : NS <= 16u ? 16u : NS <= 32u ? 32u : 64u;  // NS to a power of two
const uint NF = NSP > LPR ? NSP / LPR : 1u;       // sums a lane holds after the transposed butterfly
const uint NSTRIDE = NSP < LPR ? LPR / NSP : 1u;  // neighbouring lanes holding the same one
#endif

// Sums sr over the LPR lanes of each group (all invocations must call it: the shared variant has a barrier).
// With shuffles, a transposed butterfly: at each level a lane keeps half of its values (by its lane bit)
// and adds the partner's matching half, so NS sums over LPR lanes take NSP - 1 shuffles when NSP <= LPR
// (16 logits over 16 lanes: 15, not 16 x 4); the NS sums are then gathered back, one shuffle each.
void group_sum(uint t, uint grp, inout uint buf) {
  if (LPR == 1u) return;  // a lane holds whole rows: its dots are the sums
#if defined(SUBGROUP_REDUCE)
  float v[NSP];
  [[unroll]] for (uint i = 0u; i < NSP; ++i) v[i] = i < NS ? sr[i] : 0.0;
  uint lane = t % LPR;
  [[unroll]] for (uint o = LPR / 2u; o > 0u; o >>= 1u) {
    uint nb = max(1u, NSP * 2u * o / LPR);  // values per lane before this level (a constant once unrolled)
    if (nb >= 2u) {
      bool upper = (lane & o) != 0u;
      [[unroll]] for (uint j = 0u; j < nb / 2u; ++j) {
        float send = upper ? v[j] : v[j + nb / 2u];
        float keep = upper ? v[j + nb / 2u] : v[j];
        v[j] = keep + subgroupShuffleXor(send, o);
      }
    } else {
      v[0] += subgroupShuffleXor(v[0], o);
    }
  }
  // lane l of the group now holds the sums of entries l / NSTRIDE * NF .. + NF - 1
  uint base = gl_SubgroupInvocationID & ~(LPR - 1u);
  [[unroll]] for (uint i = 0u; i < NS; ++i) sr[i] = subgroupShuffle(v[i % NF], base + (i / NF) * NSTRIDE);
#else
  uint base = buf * WG * KPS * GC;
  [[unroll]] for (uint i = 0u; i < KPS * GC; ++i) red_s[base + t * KPS * GC + i] = sr[i];
  barrier();
  [[unroll]] for (uint i = 0u; i < KPS * GC; ++i) {
    float s = 0.0;
    [[unroll]] for (uint l = 0u; l < LPR; ++l) s += red_s[base + (grp * LPR + l) * KPS * GC + i];
    sr[i] = s;
  }
  buf ^= 1u;  // the next step writes the other half: one barrier per step
#endif
}

// Step `sl` (loaded): logits of its keys, the online softmax update, then p·V.
void consume(const uint sl, uint t, uint grp, uint lane_id, uint ng, inout uint buf) {
  const uint sc = sl * NK;

  [[unroll]] for (uint i = 0u; i < KPS; ++i) {
    [[unroll]] for (uint cc = 0u; cc < CPL; ++cc) unpack_chunk(kb[sc + i * CPL + cc], cc * CE);
    vec2 sz = key_scale_zero(false, sl, i);  // the row's scale and zero
    [[unroll]] for (uint g = 0u; g < GC; ++g) {
      float d = 0.0;
      [[unroll]] for (uint e = 0u; e < E; ++e) d += qr[g * E + e] * xr[e];
      sr[i * GC + g] = INT_FMT ? sz.x * d + sz.y * qs[g] : d;
    }
  }
  group_sum(t, grp, buf);

  // online softmax over the step's keys, per query head (every lane of the group holds the same state)
  float mx[GC], corr[GC];
  [[unroll]] for (uint g = 0u; g < GC; ++g) {
    mx[g] = m[g];
    [[unroll]] for (uint i = 0u; i < KPS; ++i) {
      float v = (validb[sl] & (1u << i)) != 0u && g < ng ? apply_softcap(sr[i * GC + g]) : NEG_INF;
      sr[i * GC + g] = v;
      mx[g] = nan_max(mx[g], v);
    }
  }
#if defined(SUBGROUP_REDUCE)
  if (LPR > 1u) {
    // the NS probabilities and GC rescale factors are spread over the group's lanes, then shared by
    // shuffles; a lane picks its logit (or old max) and max by selects, not by indexing with lane_id
    uint base = gl_SubgroupInvocationID & ~(LPR - 1u);
    float ex[NER];
    [[unroll]] for (uint r = 0u; r < NER; ++r) {
      float sv = NEG_INF, mg = NEG_INF;
      [[unroll]] for (uint o = 0u; o < LPR; ++o) {
        const uint j = LPR * r + o;  // the entry of lane o in round r: a constant index
        if (lane_id == o) {
          if (j < NS) sv = sr[j], mg = mx[j % GC];
          else if (j < NS + GC) sv = m[j - NS], mg = mx[j - NS];
        }
      }
      // a probability (idx < NS) or a rescale factor: exp(old max - new max), 1 while the max is -inf
      uint idx = lane_id + LPR * r;
      ex[r] = idx < NS ? softmax_p(sv, mg) : idx < NS + GC ? softmax_corr(sv, mg) : 0.0;
    }
    [[unroll]] for (uint idx = 0u; idx < NS + GC; ++idx) {
      float v = subgroupShuffle(ex[idx / LPR], base + idx % LPR);
      if (idx < NS) sr[idx] = v;
      else corr[idx - NS] = v;
    }
  } else
#endif
  {  // one lane per row (it holds every logit and max), or no shuffles (every lane of a group holds them)
    [[unroll]] for (uint g = 0u; g < GC; ++g) corr[g] = softmax_corr(m[g], mx[g]);
    [[unroll]] for (uint i = 0u; i < NS; ++i) sr[i] = softmax_p(sr[i], mx[i % GC]);
  }
  [[unroll]] for (uint g = 0u; g < GC; ++g) {
    float sum = 0.0;
    [[unroll]] for (uint i = 0u; i < KPS; ++i) sum += sr[i * GC + g];
    l[g] = l[g] * corr[g] + sum;
    m[g] = mx[g];
    zacc[g] *= corr[g];
    [[unroll]] for (uint e = 0u; e < E; ++e) acc[g * E + e] *= corr[g];
  }
  [[unroll]] for (uint i = 0u; i < KPS; ++i) {
    [[unroll]] for (uint cc = 0u; cc < CPL; ++cc) unpack_chunk(vb[sc + i * CPL + cc], cc * CE);
    vec2 sz = key_scale_zero(true, sl, i);
    [[unroll]] for (uint g = 0u; g < GC; ++g) {
      float p = sr[i * GC + g];
      float ps = INT_FMT ? p * sz.x : p;
      if (INT_FMT) zacc[g] += p * sz.y;
      [[unroll]] for (uint e = 0u; e < E; ++e) acc[g * E + e] += ps * xr[e];
    }
  }
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint split = gl_WorkGroupID.x;
  uint c = gl_WorkGroupID.y % pc.chunks;
  uint bh = gl_WorkGroupID.y / pc.chunks;
  uint hk = bh % pc.kv_heads, b = bh / pc.kv_heads;
  uint G = pc.q_heads / pc.kv_heads;
  uint grp = t / LPR, lane = t % LPR;
  uint hs = grp % HS, gi = grp / HS;  // head set, lane group within it
  uint g0 = (c * HS + hs) * GC;       // this lane group's first query head within the kv head's
  uint ng = g0 < G ? min(GC, G - g0) : 0u;
  uint qi = uint(q_start[b]);
  int L = seq_lens[b];
  int jlo = pc.window > 0 ? max(0, L - pc.window) : 0;
  int s0 = int(split * pc.split_keys);
  int s1 = min(L, s0 + int(pc.split_keys));
  int k0 = max(jlo, s0);

  // this lane's slice of q (scaled), and its sum for the int formats' zero term
  float qscale = pc.scale * (FP8_FMT ? fp8_scale_k(hk) : 1.0);
  [[unroll]] for (uint g = 0u; g < GC; ++g) {
    qs[g] = 0.0;
    [[unroll]] for (uint cc = 0u; cc < CPL; ++cc) {
      uint ch = lane + LPR * cc;
      bool has = g < ng && ch < NCH;
      [[unroll]] for (uint e = 0u; e < CE; ++e) {  // unconditional loads (see fetch), index 0 where unused
        float x = q_at(has ? (qi * pc.q_heads + hk * G + g0 + g) * D + ch * CE + e : 0u) * qscale;
        x = has ? x : 0.0;
        qr[g * E + cc * CE + e] = x;
        qs[g] += x;
      }
    }
  }

  [[unroll]] for (uint g = 0u; g < GC; ++g) m[g] = NEG_INF, l[g] = 0.0, zacc[g] = 0.0;
  [[unroll]] for (uint i = 0u; i < GC * E; ++i) acc[i] = 0.0;

  // pages [pa, pb) of this split hold keys [k0, s1); the groups of a head set take them round robin
  uint pa = uint(k0) / pc.page_size;
  uint pb = s1 > k0 ? (uint(s1) + pc.page_size - 1u) / pc.page_size : pa;
  uint steps = (pb - pa + NWH - 1u) / NWH * (pc.page_size / KPS);  // uniform over the workgroup
  uint buf = 0u;

  // two steps per iteration, so that each step's registers have a fixed slot; the next step's loads
  // are in flight during this step's math
  if (!PREFETCH) {  // CPU-based drivers: loads are synchronous, spare the registers
    for (uint n = 0u; n < steps; ++n) {
      fetch(n, 0u, gi, lane, b, hk, pa, pb, k0, s1);
      consume(0u, t, grp, lane, ng, buf);
    }
  } else {
  fetch(0u, 0u, gi, lane, b, hk, pa, pb, k0, s1);
  for (uint n = 0u; n < steps; n += 2u) {
    if (n + 1u < steps) fetch(n + 1u, 1u, gi, lane, b, hk, pa, pb, k0, s1);
    consume(0u, t, grp, lane, ng, buf);
    if (n + 1u < steps) {  // uniform over the workgroup
      if (n + 2u < steps) fetch(n + 2u, 0u, gi, lane, b, hk, pa, pb, k0, s1);
      consume(1u, t, grp, lane, ng, buf);
    }
  }
  }

  // merge the groups' (max, sum, acc) per query head, then normalise (one split) or write the partials;
  // the accumulators go through shared memory DM elements of the head dim at a time. Head g of every head
  // set at once: output element i of the pass is head set i / dmc, head-dim element d0 + i % dmc, merged
  // over that set's groups (hs, hs + HS, ...).
  float vscale = FP8_FMT ? fp8_scale_v(hk) : 1.0;
  [[unroll]] for (uint g = 0u; g < GC; ++g) {
    for (uint d0 = 0u; d0 < D; d0 += DM) {  // one slice unless the shared memory is short
      barrier();
      if (lane == 0u && d0 == 0u) {
        ml_s[grp] = m[g];
        ml_s[NW + grp] = l[g];
      }
      [[unroll]] for (uint cc = 0u; cc < CPL; ++cc) {
        uint ch = lane + LPR * cc;
        [[unroll]] for (uint e = 0u; e < CE; ++e) {
          uint d = ch * CE + e;
          if (ch < NCH && (DM == D || (d >= d0 && d < d0 + DM))) red_s[grp * DM + d - d0] = acc[g * E + cc * CE + e] + zacc[g];
        }
      }
      barrier();
      uint dmc = min(DM, D - d0), cur = ~0u;
      float M = NEG_INF, lt = 0.0;  // the current set's merged max and sum
      for (uint i = t; i < HS * dmc; i += WG) {
        uint set = i / dmc, d = d0 + i % dmc;
        uint gq = (c * HS + set) * GC + g;  // query head within the kv head's
        if (gq >= G) continue;
        if (set != cur) {
          cur = set, M = NEG_INF, lt = 0.0;
          for (uint w = set; w < NW; w += HS) M = nan_max(M, ml_s[w]);
          for (uint w = set; w < NW; w += HS) lt += softmax_p(ml_s[w], M) * ml_s[NW + w];
        }
        float o = 0.0;
        for (uint w = set; w < NW; w += HS) o += softmax_p(ml_s[w], M) * red_s[w * DM + d - d0];
        o *= vscale;
        uint hq = hk * G + gq;
        if (pc.splits > 1u) {
          uint pbase = ((b * pc.q_heads + hq) * pc.splits + split) * (D + 2u);
          part[pbase + d] = o;
          if (d == 0u) {
            part[pbase + D] = M;
            part[pbase + D + 1u] = lt;
          }
        } else {
          store_out((qi * pc.q_heads + hq) * D + d, lt == 0.0 ? 0.0 : o / lt);
        }
      }
    }
  }
}

#elif defined(PREFILL)
#extension GL_EXT_control_flow_attributes : require
layout(constant_id = 3) const uint BQ = 16;  // rows per workgroup: (query, query head of the kv head) pairs
layout(constant_id = 4) const uint BK = 32;  // keys per tile
// Shared tiles hold vec4 rows: q_s[BQ][RS], kv_s[BK][RS] (RS = D / 4 rounded up to odd), s_s[BQ][SS].
const uint D4 = D / 4u;                      // vec4 per head row (every supported D is a multiple of 4)
const uint RS = D4 | 1u;                     // row stride in vec4, odd: see the bank analysis at the top
const uint SS = BK + 1u;                     // s_s row stride in floats
// K/V tile loads: 16 bytes (4 words) per load where the row's word count allows it, else 8.
const uint LW = RW % 4u == 0u ? 4u : 2u;     // words per load (every supported D gives RW even)
const uint NCH = RW / LW;                    // loads per cache row
const uint CE4 = LW * EPW / 4u;              // vec4 per load once dequantized (1 .. 8)
// QKᵀ register tile: RQ rows x RK keys per invocation; keys kg + NKG·j, rows rg + NRG·i.
const uint RK = BK % 2u == 0u ? 2u : 1u;
const uint NKG = BK / RK;
const uint RQW = BQ * NKG / WG;              // rows per invocation that keep every invocation busy
const uint RQ2 = RQW >= 2u ? 2u : 1u;        // (one ternary per constant: glslang 12 drops nested ones)
const uint RQ = RQW >= 4u ? 4u : RQ2;
const uint NRG = (BQ + RQ - 1u) / RQ;
const uint NQK = NRG * NKG;                  // register tiles per key tile
const bool QK_FULL = NRG * RQ == BQ;         // no row past the tile
// PV register tile: RP rows x DV vec4 columns per invocation; columns dg + NDG·c, rows pg + NRP·i.
const uint D4P2 = D4 & (0u - D4);            // largest power of two dividing D4
const uint NDG0 = D4P2 == D4 ? D4 / 2u : D4P2;
const uint NDG1 = NDG0 * BQ >= WG ? NDG0 : WG / BQ;  // no more row groups than rows
const uint NDG2 = NDG1 < 1u ? 1u : NDG1;
const uint NDG = NDG2 > WG ? WG : NDG2;
const uint DV = (D4 + NDG - 1u) / NDG;
const uint NRP = WG / NDG;
const uint RP = (BQ + NRP - 1u) / NRP;
const bool PV_FULL = (NDG * DV - D4) + (NRP * RP - BQ) == 0u;  // no column / row past the tile

layout(set = 0, binding = 1, std430) readonly buffer K4 { uvec4 k4[]; };
layout(set = 0, binding = 1, std430) readonly buffer K2 { uvec2 k2[]; };
layout(set = 0, binding = 2, std430) readonly buffer V4 { uvec4 v4[]; };
layout(set = 0, binding = 2, std430) readonly buffer V2 { uvec2 v2[]; };

shared vec4 q_s[BQ * RS];
shared vec4 kv_s[BK * RS];
shared float s_s[BQ * SS];
shared float m_s[BQ], l_s[BQ], corr_s[BQ];

// Dequantizes keys [tile, tile + BK) of K (is_v false) or V into kv_s (zeros past jhi): one 16-byte
// (int4 at D 80: 8-byte) load per invocation and step, neighbouring invocations on neighbouring loads.
void load_tile(bool is_v, uint b, uint hk, int tile, int jhi) {
  for (uint i = gl_LocalInvocationID.x; i < BK * NCH; i += WG) {
    uint k = i / NCH, ch = i % NCH;
    int j = tile + int(k);
    uvec4 w = uvec4(0u);
    float s = 1.0, z = 0.0;
    if (j < jhi) {
      uint row = kv_row(b, uint(j), hk);
      uint at = row * RW + ch * LW;
      if (LW == 4u) w = is_v ? v4[at >> 2] : k4[at >> 2];
      else w.xy = is_v ? v2[at >> 1] : k2[at >> 1];
      if (INT_FMT) {
        vec2 sz = unpackHalf2x16(scale_zero(is_v, row));
        s = sz.x, z = sz.y;
      }
    }
    float x[LW * EPW];
    [[unroll]] for (uint c = 0u; c < LW; ++c) {
      float v[EPW];
      unpack_word(w[c], v);
      [[unroll]] for (uint e = 0u; e < EPW; ++e) x[c * EPW + e] = INT_FMT ? lb_kv_int_value(v[e], s, z) : v[e];
    }
    [[unroll]] for (uint c = 0u; c < CE4; ++c)
      kv_s[k * RS + ch * CE4 + c] = vec4(x[4u * c], x[4u * c + 1u], x[4u * c + 2u], x[4u * c + 3u]);
  }
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint hk = gl_WorkGroupID.y % pc.kv_heads, b = gl_WorkGroupID.y / pc.kv_heads;
  int G = int(pc.q_heads / pc.kv_heads);
  int q0 = q_start[b], nq = q_start[b + 1u] - q0;
  int L = seq_lens[b];
  int r0 = int(gl_WorkGroupID.x * BQ);  // row r is query r / G, query head hk * G + r % G
  if (r0 >= nq * G) return;             // uniform for the workgroup
  int nrows = min(int(BQ), nq * G - r0);
  int off = L - nq;  // query i sits at position i + off
  bool causal = (pc.flags & FLAG_CAUSAL) != 0u || pc.window > 0;
  int jlo = pc.window > 0 ? max(0, r0 / G + off - pc.window + 1) : 0;
  int jhi = causal ? clamp((r0 + nrows - 1) / G + off + 1, 0, L) : L;

  float qscale = pc.scale * (FP8_FMT ? fp8_scale_k(hk) : 1.0);
  for (uint i = t; i < BQ * D4; i += WG) {
    uint r = i / D4, d4 = i % D4;
    int rr = r0 + int(r);
    vec4 x = vec4(0.0);
    if (int(r) < nrows) {
      uint at = ((uint(q0 + rr / G) * pc.q_heads + hk * uint(G) + uint(rr % G)) * D + 4u * d4) >> 1;
      x = vec4(unpackHalf2x16(q_words[at]), unpackHalf2x16(q_words[at + 1u])) * qscale;
    }
    q_s[r * RS + d4] = x;
  }
  if (t < BQ) {
    m_s[t] = NEG_INF;
    l_s[t] = 0.0;
  }
  uint dg = t % NDG, pg = t / NDG;
  vec4 o[RP * DV];
  [[unroll]] for (uint i = 0u; i < RP * DV; ++i) o[i] = vec4(0.0);

  for (int tile = jlo; tile < jhi; tile += int(BK)) {
    load_tile(false, b, hk, tile, jhi);
    barrier();
    // S = Q Kᵀ: vec4 products into RQ x RK vec4 accumulators, summed across lanes once at the end
    for (uint tt = t; tt < NQK; tt += WG) {
      uint kg = tt % NKG, rg = tt / NKG;
      vec4 acc[RQ * RK];
      [[unroll]] for (uint a = 0u; a < RQ * RK; ++a) acc[a] = vec4(0.0);
      for (uint d4 = 0u; d4 < D4; ++d4) {
        vec4 kk[RK];
        [[unroll]] for (uint j = 0u; j < RK; ++j) kk[j] = kv_s[(kg + NKG * j) * RS + d4];
        [[unroll]] for (uint i = 0u; i < RQ; ++i) {
          uint r = rg + NRG * i;
          vec4 qq = QK_FULL || r < BQ ? q_s[r * RS + d4] : vec4(0.0);
          [[unroll]] for (uint j = 0u; j < RK; ++j) acc[i * RK + j] = fma(qq, kk[j], acc[i * RK + j]);
        }
      }
      [[unroll]] for (uint i = 0u; i < RQ; ++i) {
        uint r = rg + NRG * i;
        if (!QK_FULL && r >= BQ) continue;
        int pos = (r0 + int(r)) / G + off;
        [[unroll]] for (uint j = 0u; j < RK; ++j) {
          uint k = kg + NKG * j;
          int key = tile + int(k);
          bool visible = int(r) < nrows && key < jhi && (!causal || key <= pos) && (pc.window <= 0 || key > pos - pc.window);
          vec4 a = acc[i * RK + j];
          s_s[r * SS + k] = visible ? apply_softcap((a.x + a.y) + (a.z + a.w)) : NEG_INF;
        }
      }
    }
    barrier();
    load_tile(true, b, hk, tile, jhi);
    if (t < BQ) {
      float m_old = m_s[t], mx = m_old;
      for (uint k = 0u; k < BK; ++k) mx = nan_max(mx, s_s[t * SS + k]);
      float corr = softmax_corr(m_old, mx);
      float sum = 0.0;
      for (uint k = 0u; k < BK; ++k) {
        float s = s_s[t * SS + k];
        float p = softmax_p(s, mx);
        s_s[t * SS + k] = p;
        sum += p;
      }
      l_s[t] = l_s[t] * corr + sum;
      m_s[t] = mx;
      corr_s[t] = corr;
    }
    barrier();
    // O = diag(corr) O + P V: RP probabilities and DV vec4 of V per key
    [[unroll]] for (uint i = 0u; i < RP; ++i) {
      uint r = pg + NRP * i;
      float cr = PV_FULL || r < BQ ? corr_s[r] : 1.0;
      [[unroll]] for (uint c = 0u; c < DV; ++c) o[i * DV + c] *= cr;
    }
    for (uint k = 0u; k < BK; ++k) {
      vec4 vv[DV];
      [[unroll]] for (uint c = 0u; c < DV; ++c) {
        uint d4 = dg + NDG * c;
        vv[c] = PV_FULL || d4 < D4 ? kv_s[k * RS + d4] : vec4(0.0);
      }
      [[unroll]] for (uint i = 0u; i < RP; ++i) {
        uint r = pg + NRP * i;
        float p = PV_FULL || r < BQ ? s_s[r * SS + k] : 0.0;
        [[unroll]] for (uint c = 0u; c < DV; ++c) o[i * DV + c] = fma(vec4(p), vv[c], o[i * DV + c]);
      }
    }
    barrier();
  }
  float vscale = FP8_FMT ? fp8_scale_v(hk) : 1.0;
  [[unroll]] for (uint i = 0u; i < RP; ++i) {
    uint r = pg + NRP * i;
    if (int(r) >= nrows) continue;
    float l = l_s[r];
    int rr = r0 + int(r);
    uint ob = (uint(q0 + rr / G) * pc.q_heads + hk * uint(G) + uint(rr % G)) * D;
    [[unroll]] for (uint c = 0u; c < DV; ++c) {
      uint d4 = dg + NDG * c;
      if (!PV_FULL && d4 >= D4) continue;
      vec4 y = l == 0.0 ? vec4(0.0) : o[i * DV + c] * vscale / l;
      [[unroll]] for (uint e = 0u; e < 4u; ++e) store_out(ob + 4u * d4 + e, y[e]);
    }
  }
}

#elif defined(MERGE)
// Workgroup (q head, seq); invocations over D. out = Σ_s e^(m_s - M) acc_s / Σ_s e^(m_s - M) l_s.
// The splits' maxima are read a split per invocation (M by a shared-memory tree), their weights e^(m_s - M)
// and weighted sums computed once per split into shared memory, MCH splits at a time; each invocation then
// sums its elements of acc_s over the chunk with MU loads in flight, adding them in split order.
const uint MCH = 256u, MU = 8u;
const uint DPT = (D + WG - 1u) / WG;  // elements of the head row per invocation
shared float w_s[MCH], l_s[MCH], m_s[WG];

void main() {
  uint hq = gl_WorkGroupID.x, b = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
  uint qi = uint(q_start[b]);
  uint base = (b * pc.q_heads + hq) * pc.splits * (D + 2u);
  float M = NEG_INF;
  for (uint s = t; s < pc.splits; s += WG) M = nan_max(M, part[base + s * (D + 2u) + D]);
  m_s[t] = M;
  barrier();
  for (uint h = WG / 2u; h > 0u; h >>= 1u) {  // WG is a power of two
    if (t < h) m_s[t] = nan_max(m_s[t], m_s[t + h]);
    barrier();
  }
  M = m_s[0];
  float acc[DPT];
  [[unroll]] for (uint i = 0u; i < DPT; ++i) acc[i] = 0.0;
  float l = 0.0;
  for (uint c0 = 0u; c0 < pc.splits; c0 += MCH) {
    uint n = min(MCH, pc.splits - c0);
    barrier();  // the previous chunk's weights are read
    for (uint s = t; s < n; s += WG) {
      uint pb = base + (c0 + s) * (D + 2u);
      float w = softmax_p(part[pb + D], M);
      w_s[s] = w;
      l_s[s] = w * part[pb + D + 1u];
    }
    barrier();
    for (uint s = 0u; s < n; ++s) l += l_s[s];
    [[unroll]] for (uint i = 0u; i < DPT; ++i) {
      uint d = t + i * WG;
      if (d < D) {
        uint s = 0u;
        for (; s + MU <= n; s += MU) {
          float v[MU];
          [[unroll]] for (uint j = 0u; j < MU; ++j) v[j] = part[base + (c0 + s + j) * (D + 2u) + d];
          [[unroll]] for (uint j = 0u; j < MU; ++j) acc[i] += w_s[s + j] * v[j];
        }
        for (; s < n; ++s) acc[i] += w_s[s] * part[base + (c0 + s) * (D + 2u) + d];
      }
    }
  }
  [[unroll]] for (uint i = 0u; i < DPT; ++i) {
    uint d = t + i * WG;
    if (d < D) store_out((qi * pc.q_heads + hq) * D + d, l == 0.0 ? 0.0 : acc[i] / l);
  }
}
#else
#error "define DECODE, PREFILL or MERGE"
#endif
