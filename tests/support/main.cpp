// main.cpp — gtest entry point shared by every test binary: any Vulkan validation message fails the
// test that caused it (validation_watch.hpp), and a binary in which no test could run because its
// backends are absent exits with kSkipExitCode, so CTest reports it skipped, not passed.
#include <gtest/gtest.h>

#include "support/backends.hpp"
#include "support/validation_watch.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  lowbit::test::watch_validation_messages();
  int rc = RUN_ALL_TESTS();
  if (lowbit::test::validation_messages_after_tests()) return 1;
  return lowbit::test::exit_code_with_skips(rc);
}
