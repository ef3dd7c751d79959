// log.hpp — lowbit's logger: spdlog to stderr (stdout belongs to the CLI's data), level from
// $LOWBIT_LOG (trace|debug|info|warn|error|off; default info). An unknown $LOWBIT_LOG value is a warning.
#pragma once

#include <spdlog/spdlog.h>

namespace lowbit {
spdlog::logger& log();
// Sets the level used when $LOWBIT_LOG does not say (or names no level): commands that print a report
// on stdout keep the logs at warning level so that the report stays readable.
void set_default_log_level(spdlog::level::level_enum level);
}
