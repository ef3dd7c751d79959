// main.cpp — the `lowbit` command-line tool: parses the command line (CLI11) and runs one command.
// stdout carries only data; logs go to stderr. Every error is one line "lowbit: error: <message>"
// on stderr and exit code 2. With LOWBIT_VK_VALIDATION set, any Vulkan validation message of the run
// (its Contexts' destruction included) is repeated on stderr at the end and the exit code is 3.
#include <cstdio>
#include <string>
#include <vector>

#include "host/log.hpp"
#include "lowbit/io.hpp"
#include "tools/arg_check.hpp"
#include "tools/cli.hpp"

namespace {

constexpr int kValidationExitCode = 3;

std::string one_line(std::string msg) {
  for (char& c : msg)
    if (c == '\n' || c == '\r') c = ' ';
  return msg;
}

int fail(const std::string& msg) {
  std::fflush(stdout);
  std::fprintf(stderr, "lowbit: error: %s\n", one_line(msg).c_str());
  return 2;
}

// Messages come only when LOWBIT_VK_VALIDATION enabled the layer; every Context is gone by now.
int exit_code_after_validation(int rc) {
  uint64_t n = lowbit::validation_message_count();
  if (n == 0) return rc;
  std::fflush(stdout);
  for (const auto& m : lowbit::validation_messages()) std::fprintf(stderr, "lowbit: validation: %s\n", one_line(m).c_str());
  std::fprintf(stderr, "lowbit: error: %llu Vulkan validation message(s) during this run (exit code %d)\n",
               static_cast<unsigned long long>(n), kValidationExitCode);
  return kValidationExitCode;
}

int run_command_line(int argc, char** argv) {
  CLI::App app{"lowbit — quantized LLM kernels on Vulkan, OpenCL and CPU (version " +
               std::string(lowbit::io::library_version()) + ")"};
  app.name("lowbit");
  app.set_version_flag("--version", lowbit::io::library_version());
  app.footer("Environment: LOWBIT_LOG (trace|debug|info|warn|error|off), LOWBIT_CACHE_DIR, LOWBIT_VK_VALIDATION=1 "
             "(any validation message: exit code 3), LOWBIT_VK_TIMEOUT_MS, LOWBIT_VK_STAGING_LIMIT, LOWBIT_TUNING_DB.");
  std::vector<lowbit::cli::Command> commands = {lowbit::cli::add_devices_command(app),
                                                lowbit::cli::add_convert_command(app),
                                                lowbit::cli::add_pack_command(app), lowbit::cli::add_run_command(app),
                                                lowbit::cli::add_demo_command(app),
                                                lowbit::cli::add_bench_command(app),
                                                lowbit::cli::add_tune_command(app)};
  app.require_subcommand(1);
  std::string names;  // "devices, convert, ..." for messages
  bool known = false;
  for (const auto& c : commands) {
    names += (names.empty() ? "" : ", ") + c.app->get_name();
    known = known || (argc > 1 && c.app->get_name() == argv[1]);
  }
  if (argc == 1) return fail("a command is required: " + names + " (see lowbit --help)");
  if (argv[1][0] != '-' && !known)
    return fail(std::string("unknown command '") + argv[1] + "' (expected one of: " + names + "; see lowbit --help)");
  try {
    lowbit::cli::check_arguments(app, argc, argv);
  } catch (const lowbit::Error& e) {
    return fail(e.what());
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // help text on stdout, exit 0
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(e.what());
  }
  try {
    for (const auto& c : commands)
      if (c.app->parsed()) {
        if (c.prints_report) lowbit::set_default_log_level(spdlog::level::warn);
        return c.run();
      }
    return fail("no command given (see lowbit --help)");
  } catch (const lowbit::Error& e) {
    return fail(e.what());
  } catch (const std::bad_alloc&) {
    return fail("out of host memory");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

}  // namespace

int main(int argc, char** argv) { return exit_code_after_validation(run_command_line(argc, argv)); }
