// main.cpp — lowbit_example_engine: decodes a few tokens through one transformer block on the engine's own
// Vulkan device (lowbit recorded into its command buffers) and on its own OpenCL context (in-order and
// out-of-order queues), and checks each against the CPU backend. Exit 0 when every engine present agrees,
// 1 on a mismatch, an error or any Vulkan validation message, 77 when no engine could run (or one that
// LOWBIT_REQUIRE names is absent: then 1).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "app_vulkan.hpp"
#include "engines.hpp"

namespace {

constexpr int kSteps = 3;

bool required(const char* backend) {
  const char* r = std::getenv("LOWBIT_REQUIRE");
  return r && std::string(r).find(backend) != std::string::npos;
}

// Largest |got - want| relative to max(1, |want|); the element and values are printed when over `tol`.
bool agrees(const char* name, const std::vector<float>& got, const std::vector<float>& want, double tol) {
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double e = std::fabs(double(got[i]) - want[i]) / std::max(1.0, std::fabs(double(want[i])));
    if (!(e <= worst)) worst = e, at = i;  // NaN counts as worst
  }
  bool ok = got.size() == want.size() && worst <= tol;
  std::printf("%-28s max rel. error %.2e (x[%zu] = %.5f, CPU %.5f) %s\n", name, worst, at, got[at], want[at],
              ok ? "ok" : "MISMATCH");
  return ok;
}

}  // namespace

int main() {
  const example::BlockWeights w = example::make_block(2026);
  // fp16 activations and int8 KV on both sides; the devices sum in other orders and round exp differently.
  const double tol = 2e-2;
  int ran = 0, failed = 0;
  try {
    const std::vector<float> want = example::reference_decode(w, kSteps);

    try {
      example::AppVulkan app;
      std::vector<float> got = example::vulkan_decode(app, w, kSteps);
      ++ran;
      if (!agrees("vulkan (recorded)", got, want, tol)) ++failed;
      if (app.validation_messages()) {
        std::printf("vulkan: %llu validation message(s), e.g.:\n", (unsigned long long)app.validation_messages());
        for (const auto& m : app.message_texts()) std::printf("  %s\n", m.c_str());
        ++failed;
      }
    } catch (const example::NoDevice& e) {
      std::printf("vulkan: not run (%s)\n", e.what());
      if (required("vulkan")) ++failed;
    }

    for (bool out_of_order : {false, true}) {
      try {
        std::vector<float> got = example::opencl_decode(w, kSteps, out_of_order);
        ++ran;
        if (!agrees(out_of_order ? "opencl (out-of-order queue)" : "opencl (in-order queue)", got, want, tol)) ++failed;
      } catch (const example::NoDevice& e) {
        std::printf("opencl: not run (%s)\n", e.what());
        if (required("opencl")) ++failed;
      }
    }
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
  if (failed) return 1;
  return ran ? 0 : 77;
}
