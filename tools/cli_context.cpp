// cli_context.cpp — the --backend/--device flags and the Context they select.
#include "host/log.hpp"
#include "tools/cli.hpp"

namespace lowbit::cli {

void add_device_flags(CLI::App& cmd, DeviceFlags& flags) {
  cmd.add_option("--backend,-b", flags.backend,
                 "auto (best available: vulkan, then opencl, then cpu), vulkan, opencl or cpu")
      ->capture_default_str();
  cmd.add_option("--device,-d", flags.device, "device index or case-insensitive name substring (default: first)");
}

Context make_context(const DeviceFlags& flags) {
  ContextOptions o;
  o.backend = parse_backend(flags.backend);
  o.device = flags.device;
  Context ctx = Context::create(o);
  // Context::create already reports the choice it made for Backend::Auto.
  if (o.backend != Backend::Auto) log().info("backend {} on {}", to_string(ctx.backend()), ctx.device_info().name);
  return ctx;
}

}  // namespace lowbit::cli
