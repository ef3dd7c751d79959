// backends.hpp — test helpers: the list of backends present (skipping absent ones with a printed
// reason, or failing when $LOWBIT_REQUIRE / $CI demand them), a Context per backend that fails the
// test on any Vulkan validation message, and gtest parameter naming.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lowbit/lowbit.hpp"

namespace lowbit::test {

// Backends to parameterise op tests over (CPU is always present).
std::vector<Backend> gpu_backends();   // vulkan, opencl: those present; required ones always listed
std::vector<Backend> all_backends();   // gpu_backends() + cpu

// Creates a context on `b` (GTEST_SKIP-style message via `skip_reason` if the backend is absent and
// not required). Returns false when the test should skip.
bool make_context(Backend b, Context& out, std::string& skip_reason);

// Asserts no validation/driver diagnostics were reported by the context.
void expect_clean(const Context& ctx);

std::string backend_param_name(const ::testing::TestParamInfo<Backend>& info);

}  // namespace lowbit::test

// Use at the start of a TEST_P over backends: creates `ctx` or skips.
#define LOWBIT_CONTEXT_OR_SKIP(ctx, backend)                          \
  ::lowbit::Context ctx;                                              \
  do {                                                                \
    std::string why_;                                                 \
    if (!::lowbit::test::make_context((backend), ctx, why_)) GTEST_SKIP() << why_; \
  } while (0)
