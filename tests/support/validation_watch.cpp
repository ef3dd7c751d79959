// validation_watch.cpp — see validation_watch.hpp.
#include "support/validation_watch.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "lowbit/lowbit.hpp"

namespace lowbit::test {

namespace {

std::atomic<uint64_t> g_mark{0};  // the count when the current test / suite / program part began

void mark() { g_mark = validation_message_count(); }

// Adds a failure to whatever gtest is running now (test, or suite for set-up/tear-down).
void fail_if_new(const char* when) {
  std::string report = validation_failure_since(g_mark);
  mark();
  if (!report.empty()) ADD_FAILURE() << "Vulkan validation message(s) " << when << ":\n" << report;
}

class ValidationListener : public ::testing::EmptyTestEventListener {
  void OnTestProgramStart(const ::testing::UnitTest&) override { mark(); }
  void OnTestStart(const ::testing::TestInfo&) override { fail_if_new("before this test (suite set-up)"); }
  void OnTestEnd(const ::testing::TestInfo&) override {
    fail_if_new("during this test, its Contexts' destruction included");
  }
  void OnTestSuiteEnd(const ::testing::TestSuite&) override { fail_if_new("in the suite's tear-down"); }
};

// Runs after every static object built after watch_validation_messages() was destroyed.
void check_at_exit() {
  std::string report = validation_failure_since(g_mark);
  if (report.empty()) return;
  std::fprintf(stderr, "[lowbit tests] FAILED: Vulkan validation message(s) while static objects were destroyed:\n%s\n",
               report.c_str());
  std::fflush(stderr);
  _exit(1);
}

}  // namespace

std::string validation_failure_since(uint64_t since) {
  uint64_t now = validation_message_count();
  if (now <= since) return {};
  std::string out = std::to_string(now - since) + " message(s):";
  for (const auto& m : validation_messages(since)) out += "\n  " + m;
  return out;
}

void accept_validation_messages() { mark(); }

void watch_validation_messages() {
  ::testing::UnitTest::GetInstance()->listeners().Append(new ValidationListener);
  std::atexit(check_at_exit);
}

bool validation_messages_after_tests() {
  std::string report = validation_failure_since(g_mark);
  mark();
  if (report.empty()) return false;
  std::fprintf(stderr, "[lowbit tests] FAILED: Vulkan validation message(s) after the last test:\n%s\n",
               report.c_str());
  return true;
}

}  // namespace lowbit::test
