// temp_registry.cpp — process-wide, async-signal-safe list of named temp files (see temp_registry.hpp).
// Slots are fixed-size static storage, so the handler neither allocates nor locks: it only unlink()s.
#include "host/io/temp_registry.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace lowbit::io::detail {

namespace {

constexpr int kSlots = 64;
constexpr size_t kMaxPath = 4096;
enum SlotState : int { kFree = 0, kFilling = 1, kLive = 2 };

struct Slot {
  std::atomic<int> state{kFree};
  char path[kMaxPath];
};
Slot g_slots[kSlots];

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
constexpr int kSignalCount = int(sizeof(kSignals) / sizeof(kSignals[0]));
struct sigaction g_previous[kSignalCount];
std::once_flag g_installed;

void remove_live_temps() {
  for (Slot& s : g_slots)
    if (s.state.load(std::memory_order_acquire) == kLive) ::unlink(s.path);
}

extern "C" void on_terminating_signal(int sig, siginfo_t* info, void* uctx) {
  int saved_errno = errno;
  remove_live_temps();
  int i = 0;
  while (i < kSignalCount && kSignals[i] != sig) ++i;
  if (i == kSignalCount) return;
  const struct sigaction& prev = g_previous[i];
  if (prev.sa_flags & SA_SIGINFO) {
    prev.sa_sigaction(sig, info, uctx);  // chain to the handler we replaced
  } else if (prev.sa_handler == SIG_DFL) {
    ::sigaction(sig, &prev, nullptr);  // default action: dies by this signal once the handler returns
    ::raise(sig);
  } else if (prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
  }
  errno = saved_errno;
}

void install_handlers() {
  for (int i = 0; i < kSignalCount; ++i) {
    struct sigaction prev {};
    if (::sigaction(kSignals[i], nullptr, &prev) != 0) continue;
    if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler == SIG_IGN) continue;  // ignored stays ignored
    g_previous[i] = prev;
    struct sigaction ours {};
    ours.sa_sigaction = on_terminating_signal;
    ours.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&ours.sa_mask);
    ::sigaction(kSignals[i], &ours, nullptr);
  }
}

}  // namespace

int register_temp_file(const std::filesystem::path& path) {
  std::call_once(g_installed, install_handlers);
  std::error_code ec;
  std::string abs = std::filesystem::absolute(path, ec).string();
  if (ec || abs.size() >= kMaxPath) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!g_slots[i].state.compare_exchange_strong(expected, kFilling)) continue;
    std::memcpy(g_slots[i].path, abs.c_str(), abs.size() + 1);
    g_slots[i].state.store(kLive, std::memory_order_release);
    return i;
  }
  return -1;
}

void unregister_temp_file(int slot) {
  if (slot >= 0 && slot < kSlots) g_slots[slot].state.store(kFree, std::memory_order_release);
}

}  // namespace lowbit::io::detail
