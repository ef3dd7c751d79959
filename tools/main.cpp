// main.cpp — the `lowbit` command-line tool: parses the command line (CLI11) and runs one command.
// stdout carries only data; logs go to stderr. Every error is one line "lowbit: error: <message>"
// on stderr and exit code 2.
#include <cstdio>
#include <string>
#include <vector>

#include "host/log.hpp"
#include "lowbit/io.hpp"
#include "tools/arg_check.hpp"
#include "tools/cli.hpp"

namespace {

int fail(std::string msg) {
  for (char& c : msg)
    if (c == '\n' || c == '\r') c = ' ';
  std::fflush(stdout);
  std::fprintf(stderr, "lowbit: error: %s\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lowbit — quantized LLM kernels on Vulkan, OpenCL and CPU (version " +
               std::string(lowbit::io::library_version()) + ")"};
  app.name("lowbit");
  app.set_version_flag("--version", lowbit::io::library_version());
  app.footer("Environment: LOWBIT_LOG (trace|debug|info|warn|error|off), LOWBIT_CACHE_DIR, LOWBIT_VK_VALIDATION=1.");
  std::vector<lowbit::cli::Command> commands = {lowbit::cli::add_devices_command(app),
                                                lowbit::cli::add_convert_command(app),
                                                lowbit::cli::add_pack_command(app), lowbit::cli::add_run_command(app),
                                                lowbit::cli::add_demo_command(app),
                                                lowbit::cli::add_bench_command(app)};
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
