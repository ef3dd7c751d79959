// cli_context.cpp — the --backend/--device flags and the Context they select; the output-location check
// every command makes before it starts.
#include <cstdio>

#include "host/log.hpp"
#include "lowbit/io.hpp"
#include "tools/cli.hpp"

namespace lowbit::cli {

void add_device_flags(CLI::App& cmd, DeviceFlags& flags) {
  cmd.add_option("--backend,-b", flags.backend,
                 "auto (best available: vulkan, then opencl, then cpu), vulkan, opencl or cpu")
      ->capture_default_str();
  cmd.add_option("--device,-d", flags.device, "device index or case-insensitive name substring (default: first)");
}

void check_output(const std::string& path, const std::string& flag, const std::string& extension,
                  const std::vector<std::filesystem::path>& inputs) {
  if (!extension.empty() && !path.ends_with(extension))
    throw Error(ErrorCode::InvalidArgument, flag + " must be a " + extension + " file, got '" + path + "'");
  io::check_output_path(path, inputs);
}

void print_run_summary(const std::string& op, const std::string& what, const Context& ctx, double device_ms) {
  const KernelChoice ch = ctx.last_kernel_choice();  // the launch configuration of the last tuned op
  if (ch.serial > 0)
    log().info("run {}: {} config {} ({})", op, ch.family, to_string(ch.config), ch.source);
  std::fprintf(stderr, "run %s: %s on %s (%s): %.3f ms device time\n", op.c_str(), what.c_str(),
               to_string(ctx.backend()), ctx.device_info().name.c_str(), device_ms);
}

Context make_context(const DeviceFlags& flags) {
  ContextOptions o;
  o.backend = parse_backend(flags.backend);
  o.device = flags.device;
  o.deterministic = flags.deterministic;
  Context ctx = Context::create(o);
  // Context::create already reports the choice it made for Backend::Auto.
  if (o.backend != Backend::Auto) log().info("backend {} on {}", to_string(ctx.backend()), ctx.device_info().name);
  return ctx;
}

}  // namespace lowbit::cli
