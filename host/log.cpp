// log.cpp — the shared stderr logger (see log.hpp).
#include "host/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace lowbit {

namespace {

// The level $LOWBIT_LOG names, or nothing when it is unset or names no level.
std::optional<spdlog::level::level_enum> env_level() {
  const char* lv = std::getenv("LOWBIT_LOG");
  if (!lv) return std::nullopt;
  const std::string s = lv;
  for (auto [name, level] : {std::pair{"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
                             {"info", spdlog::level::info}, {"warn", spdlog::level::warn},
                             {"warning", spdlog::level::warn}, {"error", spdlog::level::err},
                             {"err", spdlog::level::err}, {"critical", spdlog::level::critical},
                             {"off", spdlog::level::off}})
    if (s == name) return level;
  return std::nullopt;
}

}  // namespace

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("lowbit");
    l->set_pattern("[lowbit %^%l%$] %v");
    l->set_level(env_level().value_or(spdlog::level::info));
    const char* lv = std::getenv("LOWBIT_LOG");
    if (lv && !env_level())
      l->warn("LOWBIT_LOG='{}' is not a log level (trace, debug, info, warn, error, off): ignored", lv);
    return l;
  }();
  return *logger;
}

void set_default_log_level(spdlog::level::level_enum level) {
  spdlog::logger& l = log();
  if (!env_level()) l.set_level(level);
}

}  // namespace lowbit
