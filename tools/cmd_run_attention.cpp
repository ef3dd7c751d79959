// cmd_run_attention.cpp — `lowbit run attention --q Q.npy --k K.npy --v V.npy --kv-format F --output O.npy
// [--page-size P] [--causal] [--window W] [--softcap C] [--scale S] [--backend B] [--device D]`:
// appends K/V [B, Skv, Hkv, D] into a paged KV cache whose pages are deliberately scattered, runs
// attention for Q [B, Sq, Hq, D] (decode path when Sq = 1) and writes O [B, Sq, Hq, D] float32.
#include <bit>
#include <cmath>

#include "lowbit/io.hpp"
#include "lowbit_formats.h"
#include "tools/cli.hpp"
#include "tools/npy_input.hpp"

namespace lowbit::cli {

namespace {

using Tensor4 = HalfArray;  // [B, S, H, D]

// A float16/32/64 .npy of rank 4, as fp16.
Tensor4 read4(const std::string& path, const char* what, const char* dims) {
  Tensor4 t = read_npy_as_f16(path, what);
  if (t.shape.size() != 4)
    throw Error(ErrorCode::InvalidArgument, path + ": " + what + " must be " + dims + ", got " + shape_str(t.shape));
  return t;
}

float h2f(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }

// K and V must be finite once in fp16 (a NaN/inf key would poison every query that sees it).
void check_finite(const Tensor4& t, const std::string& path) {
  for (size_t i = 0; i < t.f16.size(); ++i)
    if ((t.f16[i] & 0x7C00u) == 0x7C00u)
      throw Error(ErrorCode::InvalidArgument, path + ": element " + std::to_string(i) +
                                                  " is NaN, infinite or beyond the float16 range (|x| > 65504)");
}

// FP8 calibration: one scale per kv head, amax / max(format) (1 when the head is all zeros).
std::vector<float> fp8_scales(const Tensor4& t, KvFormat f) {
  const int64_t H = t.shape[2], D = t.shape[3];
  const float fmax = f == KvFormat::E4M3 ? 448.0f : 57344.0f;
  std::vector<float> amax(size_t(H), 0.0f);
  for (size_t i = 0; i < t.f16.size(); ++i) {
    size_t h = size_t((int64_t(i) / D) % H);
    amax[h] = std::max(amax[h], std::fabs(h2f(t.f16[i])));
  }
  for (float& a : amax) a = a > 0.0f ? a / fmax : 1.0f;
  return amax;
}

}  // namespace

Command add_run_attention_command(CLI::App& run) {
  auto* cmd = run.add_subcommand("attention", "O = softmax(scale · Q·Kᵀ) · V over a quantized, paged KV cache");
  struct Args {
    std::string q, k, v, output, format;
    int page_size = 16, window = 0;
    bool causal = false;
    float softcap = 0.0f;
    std::optional<float> scale;
    DeviceFlags dev;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--q", a->q, "Q: float32 or float16 .npy [B, Sq, Hq, D]")->required();
  cmd->add_option("--k", a->k, "K: float32 or float16 .npy [B, Skv, Hkv, D]")->required();
  cmd->add_option("--v", a->v, "V: float32 or float16 .npy [B, Skv, Hkv, D]")->required();
  cmd->add_option("--kv-format", a->format, "fp16 | int8 | int4 | e4m3 | e5m2 (fp8: per-head scale amax/max)")
      ->required();
  cmd->add_option("--output", a->output, "O: float32 .npy [B, Sq, Hq, D]")->required();
  cmd->add_option("--page-size", a->page_size, "tokens per KV page (default 16)");
  cmd->add_flag("--causal", a->causal, "causal mask, aligned bottom-right (query i sees keys j <= i + Skv - Sq)");
  cmd->add_option("--window", a->window, "sliding window of W keys, its own included (implies --causal)");
  cmd->add_option("--softcap", a->softcap, "logit softcap C: s = C · tanh(s / C)");
  cmd->add_option("--scale", a->scale, "softmax scale (default 1/sqrt(D))");
  add_device_flags(*cmd, a->dev);
  return {cmd, [a] {
            check_output(a->output, "--output", ".npy", {a->q, a->k, a->v});
            const KvFormat format = parse_kv_format(a->format);
            if (a->page_size < 1)
              throw Error(ErrorCode::InvalidArgument, "--page-size must be >= 1, got " + std::to_string(a->page_size));
            auto q = read4(a->q, "Q", "[B, Sq, Hq, D]");
            auto k = read4(a->k, "K", "[B, Skv, Hkv, D]");
            auto v = read4(a->v, "V", "[B, Skv, Hkv, D]");
            if (k.shape != v.shape)
              throw Error(ErrorCode::InvalidArgument, "K " + shape_str(k.shape) + " and V " + shape_str(v.shape) +
                                                          " must have the same shape");
            const int64_t B = q.shape[0], Sq = q.shape[1], Hq = q.shape[2], D = q.shape[3];
            const int64_t Skv = k.shape[1], Hkv = k.shape[2];
            if (k.shape[0] != B || k.shape[3] != D)
              throw Error(ErrorCode::InvalidArgument, "Q " + shape_str(q.shape) + " and K " + shape_str(k.shape) +
                                                          " disagree on the batch size or the head dim");
            if (B < 1 || Sq < 1 || Skv < 1 || Hq < 1 || Hkv < 1)
              throw Error(ErrorCode::InvalidArgument, "Q " + shape_str(q.shape) + " / K " + shape_str(k.shape) +
                                                          ": every dimension must be >= 1");
            if (Sq > Skv)
              throw Error(ErrorCode::InvalidArgument,
                          "Q has Sq = " + std::to_string(Sq) + " queries but K/V only Skv = " + std::to_string(Skv) +
                              " keys: queries are the last Sq tokens of each sequence (Sq <= Skv)");
            if (Hq % Hkv != 0)
              throw Error(ErrorCode::InvalidArgument, "head counts are incompatible: Hq = " + std::to_string(Hq) +
                                                          " is not a multiple of Hkv = " + std::to_string(Hkv));
            check_finite(k, a->k);
            check_finite(v, a->v);
            if (Skv > INT32_MAX / B) throw Error(ErrorCode::InvalidArgument, "K/V hold too many tokens");

            Context ctx = make_context(a->dev);
            const int64_t P = a->page_size, per_seq = (Skv + P - 1) / P, needed = B * per_seq;
            KvCacheOptions o;
            o.num_pages = int(std::min<int64_t>(needed * 2, INT32_MAX / P));  // spare pages to scatter over
            o.page_size = a->page_size;
            o.kv_heads = int(Hkv);
            o.head_dim = int(D);
            o.format = format;
            if (format == KvFormat::E4M3 || format == KvFormat::E5M2) {
              o.k_scale = fp8_scales(k, format);
              o.v_scale = fp8_scales(v, format);
            }
            const int64_t row = format == KvFormat::F16 ? 2 * D : (format == KvFormat::Int4 ? D / 2 : D);
            if (uint64_t(o.num_pages) * uint64_t(P * Hkv * row) > ctx.device_info().max_buffer_range)
              o.num_pages = int(needed);  // no room for spares on this device
            KvCache cache = ctx.create_kv_cache(o);
            cache.scatter_free_pages(0x1b0a7u);
            std::vector<int> seqs;
            const auto kv_counts = std::vector<int>(size_t(B), int(Skv));
            const auto q_counts = std::vector<int>(size_t(B), int(Sq));
            for (int64_t b = 0; b < B; ++b) seqs.push_back(cache.add_sequence());
            cache.extend(seqs, kv_counts);
            Buffer kb = ctx.upload(DType::F16, {B * Skv, Hkv, D}, k.f16.data(), k.f16.size() * 2);
            Buffer vb = ctx.upload(DType::F16, {B * Skv, Hkv, D}, v.f16.data(), v.f16.size() * 2);
            ctx.kv_append(cache, 0, seqs, kv_counts, kb, vb);
            Buffer qb = ctx.upload(DType::F16, {B * Sq, Hq, D}, q.f16.data(), q.f16.size() * 2);
            AttentionOptions ao;
            ao.causal = a->causal;
            ao.window = a->window;
            ao.softcap = a->softcap;
            ao.scale = a->scale;
            ctx.wait();
            ctx.reset_timing();
            Buffer ob = ctx.attention(qb, cache, 0, seqs, q_counts, ao);
            const double ms = ctx.timing().device_ms;
            auto out = ctx.download<float>(ob);
            io::write_npy(a->output, DType::F32, {B, Sq, Hq, D},
                          {reinterpret_cast<const uint8_t*>(out.data()), out.size() * 4});
            print_run_summary("attention", "Q " + shape_str(q.shape) + ", K/V " + shape_str(k.shape) + " " + a->format +
                                               " KV -> O " + shape_str(q.shape),
                              ctx, ms);
            return 0;
          }};
}

}  // namespace lowbit::cli
