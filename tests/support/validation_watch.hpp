// validation_watch.hpp — makes every Vulkan validation message fail a test: a GoogleTest listener
// compares lowbit::validation_message_count() before and after each test (a test's Contexts are
// destroyed inside it, so messages raised by their destruction count), around suite set-up/tear-down
// and, at exit, after static objects are gone.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace lowbit::test {

// The messages that appeared since the count was `since`, as one failure report; empty if none.
std::string validation_failure_since(uint64_t since);

// For a test that provokes messages on purpose: the messages so far are expected, not failures.
void accept_validation_messages();

// Installs the listener and the exit-time check (call once, after InitGoogleTest).
void watch_validation_messages();

// After RUN_ALL_TESTS: reports messages raised after the last test suite; true when there were any.
bool validation_messages_after_tests();

}  // namespace lowbit::test
