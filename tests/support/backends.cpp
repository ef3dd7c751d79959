// backends.cpp — see backends.hpp. $LOWBIT_REQUIRE=vulkan,opencl (or $CI set) turns a missing driver
// into a test failure instead of a skip.
#include "support/backends.hpp"

#include <cstdlib>
#include <map>

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

std::vector<Backend> gpu_backends() {
  std::vector<Backend> v;
  for (Backend b : {Backend::Vulkan, Backend::OpenCL}) {
    auto it = reports().find(b);
    bool present = it != reports().end() && it->second.available;
    if (present || required(b)) v.push_back(b);
    if (!present && !required(b))
      std::fprintf(stderr, "[lowbit tests] %s backend absent, its tests are skipped: %s\n", to_string(b),
                   it == reports().end() ? "not probed" : it->second.reason.c_str());
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
      std::fprintf(stderr, "[lowbit tests] skip: %s\n", why.c_str());
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

std::string backend_param_name(const ::testing::TestParamInfo<Backend>& info) { return to_string(info.param); }

}  // namespace lowbit::test
