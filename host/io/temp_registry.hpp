// temp_registry.hpp — the named temp files this process is writing, removed by a signal handler when
// SIGINT, SIGTERM or SIGHUP ends the process before they were committed or discarded. The handler is
// installed on first use (not over an ignored signal), chains to the handler it replaced, and otherwise
// re-raises the signal with its default action, so the process still dies "killed by signal".
#pragma once

#include <filesystem>

namespace lowbit::io::detail {

// Registers `path` (made absolute); returns a slot to pass to unregister_temp_file, or -1 when the
// path cannot be registered (too long, or too many temp files at once): it is then only removed by
// the writer itself.
int register_temp_file(const std::filesystem::path& path);
void unregister_temp_file(int slot);  // ignores -1

}  // namespace lowbit::io::detail
