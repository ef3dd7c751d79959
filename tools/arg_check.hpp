// arg_check.hpp — checks the command line against the registered commands before CLI11 parses it, so that
// a typo gets "unknown option '--too'; did you mean '--to'?" and a missing sub-command lists the choices,
// instead of the parser's raw messages.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace lowbit::cli {

// Throws Error(InvalidArgument) for an unknown option (with the closest known one, if any is close) and for
// a command that needs a sub-command and got none (e.g. `lowbit run`), unless help was asked for.
void check_arguments(CLI::App& root, int argc, char** argv);

// Throws Error(InvalidArgument) unless `value` is one of `choices`: "FLAG: unknown value 'x'; did you mean 'y'?
// (expected a|b|c)".
void check_choice(const std::string& flag, const std::string& value, const std::vector<std::string>& choices);

}  // namespace lowbit::cli
