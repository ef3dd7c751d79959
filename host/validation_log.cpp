// validation_log.cpp — see validation_log.hpp. One process-wide log on purpose: a message raised while a
// Context is destroyed has no Context left to report it, so it must outlive every Context.
#include "host/validation_log.hpp"

#include <mutex>
#include <vector>

#include "lowbit/lowbit.hpp"

namespace lowbit {

namespace {

constexpr size_t kKeptTexts = 1000;  // the count stays exact past this; only the texts stop

struct ValidationLog {
  std::mutex mu;
  uint64_t count = 0;
  std::vector<std::string> texts;
};

ValidationLog& the_log() {
  static ValidationLog* log = new ValidationLog;  // never destroyed: messages may come during exit
  return *log;
}

}  // namespace

void detail::record_validation_message(std::string text) {
  ValidationLog& l = the_log();
  std::lock_guard<std::mutex> lock(l.mu);
  ++l.count;
  if (l.texts.size() < kKeptTexts) l.texts.push_back(std::move(text));
}

uint64_t validation_message_count() {
  ValidationLog& l = the_log();
  std::lock_guard<std::mutex> lock(l.mu);
  return l.count;
}

std::vector<std::string> validation_messages(uint64_t first) {
  ValidationLog& l = the_log();
  std::lock_guard<std::mutex> lock(l.mu);
  if (first >= l.texts.size()) return {};
  return {l.texts.begin() + std::ptrdiff_t(first), l.texts.end()};
}

}  // namespace lowbit
