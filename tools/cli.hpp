// cli.hpp — shared pieces of the `lowbit` command-line tool: each command registers itself on the
// CLI11 app and returns the function that runs it; backend/device flags and Context creation.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "lowbit/lowbit.hpp"

namespace lowbit::cli {

// A registered command: its CLI11 sub-app and what to run when it was chosen (returns exit code).
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
  // Prints a report (tables, summaries): logs stay at warning level unless $LOWBIT_LOG says otherwise.
  bool prints_report = false;
};

Command add_devices_command(CLI::App& root);
Command add_convert_command(CLI::App& root);
Command add_pack_command(CLI::App& root);
Command add_run_command(CLI::App& root);
Command add_demo_command(CLI::App& root);
Command add_bench_command(CLI::App& root);
Command add_tune_command(CLI::App& root);
// `run attention` (cmd_run_attention.cpp), registered on the `run` sub-app by add_run_command.
Command add_run_attention_command(CLI::App& run);

// --backend / --device, shared by every command that runs work on a device.
struct DeviceFlags {
  std::string backend = "auto";
  std::string device;
  bool deterministic = false;  // ContextOptions::deterministic (commands that offer --deterministic)
};
void add_device_flags(CLI::App& cmd, DeviceFlags& flags);
// Before any work: `path` has `extension` (when given), its folder exists and is writable, and it is none
// of `inputs` (io::check_output_path); errors name `flag`.
void check_output(const std::string& path, const std::string& flag, const std::string& extension = "",
                  const std::vector<std::filesystem::path>& inputs = {});
// The one-line summary `run` prints on stderr: "run OP: WHAT on BACKEND (DEVICE): T ms device time".
void print_run_summary(const std::string& op, const std::string& what, const Context& ctx, double device_ms);
// Creates the Context the flags ask for; logs the backend and device chosen (stderr).
Context make_context(const DeviceFlags& flags);

}  // namespace lowbit::cli
