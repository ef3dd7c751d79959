// consumer.cpp — a C++ program built against an installed lowbit: on the backend argv[1] names, an MXFP8
// round trip of values the format holds exactly and an fp16 GEMM whose result is known. Exit 0 when right,
// 77 when the backend is absent, 1 otherwise.
#include <lowbit/lowbit.hpp>

#include <cstdio>
#include <vector>

// The public headers keep the internals to themselves: no Context::device(), no KvCache::state().
template <class T>
constexpr bool has_device = requires(T& t) { t.device(); };
template <class T>
constexpr bool has_state = requires(T& t) { t.state(); };
static_assert(!has_device<lowbit::Context> && !has_state<lowbit::KvCache>, "internals in the public API");

int main(int argc, char** argv) {
  try {
    auto ctx = lowbit::Context::create({.backend = lowbit::parse_backend(argc > 1 ? argv[1] : "auto")});
    std::vector<float> x(64);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 9) - 4) * 0.5f;  // exact in MXFP8 E4M3
    auto xb = ctx.upload(lowbit::DType::F32, {2, 32}, x.data(), x.size() * sizeof(float));
    auto back = ctx.download<float>(ctx.dequantize(ctx.quantize(xb, lowbit::Format::MXFP8_E4M3)));
    if (back != x) return std::puts("consumer: MXFP8 round trip changed the values"), 1;

    std::vector<uint16_t> a(32, 0x3800), w(4 * 32, 0x3C00);  // fp16 0.5 and 1.0: each y is 16
    auto ab = ctx.upload(lowbit::DType::F16, {1, 32}, a.data(), a.size() * 2);
    auto wb = ctx.upload(lowbit::DType::F16, {4, 32}, w.data(), w.size() * 2);
    auto y = ctx.download<float>(ctx.gemm_f16(ab, wb, {}, {.out = lowbit::DType::F32}));
    for (float v : y)
      if (v != 16.0f) return std::printf("consumer: gemm_f16 gave %g, expected 16\n", v), 1;
    std::printf("consumer (C++): %s on %s ok\n", lowbit::to_string(ctx.backend()), ctx.device_info().name.c_str());
    return 0;
  } catch (const lowbit::Error& e) {
    std::printf("consumer: %s\n", e.what());
    bool absent = e.code() == lowbit::ErrorCode::NotFound || e.code() == lowbit::ErrorCode::Unsupported;
    return absent ? 77 : 1;
  }
}
