// progress_bar.hpp — the CLI's renderer of lowbit::ProgressEvent: one line on stderr, redrawn in place
// ("convert [########------] 12/30 tensors  1.2/3.1 GB  ETA 0:42  model.layers.3.mlp"), only when stderr
// is a terminal; when it is not (a pipe, a file, CI), the factory returns an empty function and nothing is drawn.
#pragma once

#include <cstdio>
#include <string>

#include "lowbit/progress.hpp"

namespace lowbit::cli {

// `label` starts the line; `unit` names the items ("tensors", "rows"). A total of 0 means "unknown":
// the line then shows the count and the elapsed time instead of a bar and an ETA.
ProgressFn make_progress_bar(const std::string& label, const std::string& unit);

// The same on any stream, drawn whether or not it is a terminal (what make_progress_bar uses).
ProgressFn make_progress_bar_on(std::FILE* out, const std::string& label, const std::string& unit);

}  // namespace lowbit::cli
