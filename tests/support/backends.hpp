// backends.hpp — test helpers: the list of backends present (skipping absent ones with a printed
// reason, or failing when $LOWBIT_REQUIRE / $CI demand them; a binary whose every test skipped exits with
// kSkipExitCode), a Context per backend that fails the
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

// Exit code of a test binary in which no test ran because backends were absent (CTest's SKIP_RETURN_CODE,
// set in tests/CMakeLists.txt; 77 as in automake).
constexpr int kSkipExitCode = 77;
// After RUN_ALL_TESTS returned rc: prints which backends were skipped and how many tests; returns
// kSkipExitCode when nothing passed and something was skipped, else rc.
int exit_code_with_skips(int rc);

}  // namespace lowbit::test

// Use at the start of a test that makes its own contexts: skips (or fails, when required) unless
// `backend` is present.
#define LOWBIT_BACKEND_OR_SKIP(backend)                                                  \
  do {                                                                                   \
    ::lowbit::Context probe_;                                                            \
    std::string why_;                                                                    \
    if (!::lowbit::test::make_context((backend), probe_, why_)) GTEST_SKIP() << why_;    \
  } while (0)

// Use at the start of a TEST_P over backends: creates `ctx` or skips.
#define LOWBIT_CONTEXT_OR_SKIP(ctx, backend)                          \
  ::lowbit::Context ctx;                                              \
  do {                                                                \
    std::string why_;                                                 \
    if (!::lowbit::test::make_context((backend), ctx, why_)) GTEST_SKIP() << why_; \
  } while (0)
