// progress_bar.cpp — see progress_bar.hpp.
#include "tools/progress_bar.hpp"

#include <unistd.h>

#include <chrono>
#include <memory>

namespace lowbit::cli {

namespace {

using Clock = std::chrono::steady_clock;

std::string clock_text(double seconds) {
  long s = long(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string bytes_text(uint64_t b) {
  char buf[32];
  if (b >= (uint64_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.1f GiB", double(b) / double(uint64_t(1) << 30));
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / double(1 << 20));
  return buf;
}

struct BarState {
  std::FILE* out;
  std::string label, unit;
  Clock::time_point start = Clock::now(), last_draw{};
};

void draw(BarState& s, const ProgressEvent& e) {
  const auto now = Clock::now();
  const bool finished = e.total > 0 && e.done >= e.total;
  if (!finished && now - s.last_draw < std::chrono::milliseconds(100)) return;  // at most 10 redraws a second
  s.last_draw = now;
  const double elapsed = std::chrono::duration<double>(now - s.start).count();
  std::string line = s.label + " ";
  if (e.total > 0) {
    // Bytes measure the work better than item counts when the items differ in size.
    const double frac = e.bytes_total > 0 ? double(e.bytes_done) / double(e.bytes_total) : double(e.done) / double(e.total);
    const int width = 24, filled = int(frac * width + 0.5);
    line += "[" + std::string(size_t(filled), '#') + std::string(size_t(width - filled), '-') + "] ";
    line += std::to_string(e.done) + "/" + std::to_string(e.total) + " " + s.unit;
    if (e.bytes_total > 0) line += "  " + bytes_text(e.bytes_done) + "/" + bytes_text(e.bytes_total);
    if (finished)
      line += "  done in " + clock_text(elapsed);
    else if (frac > 0)
      line += "  ETA " + clock_text(elapsed * (1 - frac) / frac);
  } else {
    line += std::to_string(e.done) + " " + s.unit;
    if (e.bytes_done > 0) line += "  " + bytes_text(e.bytes_done);
    line += "  " + clock_text(elapsed);
  }
  if (!e.item.empty()) line += "  " + e.item.substr(0, 60);
  std::fprintf(s.out, "\r%s\x1b[K%s", line.c_str(), finished ? "\n" : "");
  std::fflush(s.out);
}

}  // namespace

ProgressFn make_progress_bar_on(std::FILE* out, const std::string& label, const std::string& unit) {
  auto state = std::make_shared<BarState>(BarState{out, label, unit});
  return [state](const ProgressEvent& e) { draw(*state, e); };
}

ProgressFn make_progress_bar(const std::string& label, const std::string& unit) {
  if (!::isatty(STDERR_FILENO)) return {};
  return make_progress_bar_on(stderr, label, unit);
}

}  // namespace lowbit::cli
