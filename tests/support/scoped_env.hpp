// scoped_env.hpp — sets an environment variable for a scope (the Vulkan device reads its switches,
// e.g. LOWBIT_VK_FORCE_STAGING, when a Context is created) and restores the old value after.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace lowbit::test {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace lowbit::test
