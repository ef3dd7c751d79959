// backends.cpp — see backends.hpp. $LOWBIT_REQUIRE=vulkan,opencl (or $CI set) turns a missing driver
// into a test failure instead of a skip.
#include "support/backends.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>

namespace lowbit::test {

static bool required(Backend b) {
  const char* ci = std::getenv("CI");
  if (ci && *ci && std::string(ci) != "false" && std::string(ci) != "0") return true;
  const char* req = std::getenv("LOWBIT_REQUIRE");
  if (!req) return false;
  return std::string(req).find(to_string(b)) != std::string::npos;
}

static const std::map<Backend, BackendReport>& reports() {
  static const std::map<Backend, BackendReport> r = [] {
    std::map<Backend, BackendReport> m;
    for (auto& rep : probe_backends()) m[rep.backend] = rep;
    return m;
  }();
  return r;
}

// "vulkan: <reason>" for every backend whose tests were skipped (absent and not required).
static std::set<std::string>& absent_not_required() {
  static std::set<std::string> s;
  return s;
}
static std::mutex absent_mu;

static void note_absent(Backend b, const std::string& reason) {
  std::lock_guard<std::mutex> lock(absent_mu);
  absent_not_required().insert(std::string(to_string(b)) + ": " + reason);
}

std::vector<Backend> gpu_backends() {
  std::vector<Backend> v;
  for (Backend b : {Backend::Vulkan, Backend::OpenCL}) {
    auto it = reports().find(b);
    bool present = it != reports().end() && it->second.available;
    if (present || required(b)) v.push_back(b);
    if (!present && !required(b))
      note_absent(b, it == reports().end() ? "not probed" : it->second.reason);
  }
  return v;
}

std::vector<Backend> all_backends() {
  auto v = gpu_backends();
  v.push_back(Backend::CPU);
  return v;
}

bool make_context(Backend b, Context& out, std::string& skip_reason) {
  auto it = reports().find(b);
  bool present = it != reports().end() && it->second.available;
  if (!present) {
    std::string why = std::string(to_string(b)) + " backend absent: " +
                      (it == reports().end() ? std::string("not probed") : it->second.reason);
    if (required(b)) {
      ADD_FAILURE() << why << " (required by $CI / $LOWBIT_REQUIRE)";
    } else {
      note_absent(b, it == reports().end() ? std::string("not probed") : it->second.reason);
    }
    skip_reason = why;
    return false;
  }
  ContextOptions o;
  o.backend = b;
  out = Context::create(o);
  return true;
}

void expect_clean(const Context& ctx) {
  auto d = ctx.diagnostics();
  EXPECT_TRUE(d.empty()) << d.size() << " driver/validation message(s), first: " << (d.empty() ? "" : d[0]);
}

int exit_code_with_skips(int rc) {
  const auto& u = *::testing::UnitTest::GetInstance();
  std::lock_guard<std::mutex> lock(absent_mu);
  for (const auto& a : absent_not_required())
    std::fprintf(stderr, "[lowbit tests] SKIPPED: backend %s (set LOWBIT_REQUIRE or CI to fail instead)\n",
                 a.c_str());
  if (u.skipped_test_count() > 0)
    std::fprintf(stderr, "[lowbit tests] %d of %d tests SKIPPED\n", u.skipped_test_count(), u.test_to_run_count());
  bool nothing_passed = u.successful_test_count() == 0;
  if (rc == 0 && nothing_passed && (u.skipped_test_count() > 0 || !absent_not_required().empty())) {
    std::fprintf(stderr, "[lowbit tests] no test ran: exit code %d (CTest: skipped)\n", kSkipExitCode);
    return kSkipExitCode;
  }
  return rc;
}

std::string backend_param_name(const ::testing::TestParamInfo<Backend>& info) { return to_string(info.param); }

}  // namespace lowbit::test
