// log.cpp — the shared stderr logger (see log.hpp).
#include "host/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

namespace lowbit {

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("lowbit");
    l->set_pattern("[lowbit %^%l%$] %v");
    const char* lv = std::getenv("LOWBIT_LOG");
    l->set_level(lv ? spdlog::level::from_str(lv) : spdlog::level::info);
    return l;
  }();
  return *logger;
}

}  // namespace lowbit
