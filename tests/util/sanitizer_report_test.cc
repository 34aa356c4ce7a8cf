#include "tests/util/sanitizer_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(SanitizerReportTest, FindsAnAddressSanitizerReportFromItsFirstLine) {
  const std::string log =
      "I proxy up\n"
      "=================================================================\n"
      "==42==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010\n"
      "READ of size 1 at 0x602000000010 thread T0\n"
      "    #0 0x4f8e3a in main tests/util/misbehaving_child.cc:40:10\n"
      "SUMMARY: AddressSanitizer: heap-use-after-free tests/util/misbehaving_child.cc:40:10\n";
  const std::optional<std::string> report = FindSanitizerReport(log);
  ASSERT_TRUE(report.has_value());
  EXPECT_THAT(*report, StartsWith("==42==ERROR: AddressSanitizer: heap-use-after-free"));
  EXPECT_THAT(*report, HasSubstr("misbehaving_child.cc:40:10"));
}

TEST(SanitizerReportTest, FindsLeaksUndefinedBehaviourAndDataRaces) {
  for (const char* line : {
           "==7==ERROR: LeakSanitizer: detected memory leaks",
           "runtime/net/pump.cc:80:7: runtime error: signed integer overflow",
           "WARNING: ThreadSanitizer: data race (pid=9)",
           "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior a.cc:1:2",
           "==7==LeakSanitizer has encountered a fatal error.",
       }) {
    EXPECT_TRUE(FindSanitizerReport(std::string("start\n") + line + "\nmore\n").has_value())
        << line;
  }
}

TEST(SanitizerReportTest, KeepsAtMostTheGivenNumberOfLines) {
  std::string log = "==1==ERROR: LeakSanitizer: detected memory leaks\n";
  for (int i = 0; i < 100; ++i) log += "    #" + std::to_string(i) + " frame\n";
  const std::optional<std::string> report = FindSanitizerReport(log, 5);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(std::count(report->begin(), report->end(), '\n'), 4);
}

TEST(SanitizerReportTest, IgnoresOrdinaryErrorsInALog) {
  EXPECT_FALSE(FindSanitizerReport("E handshake failed reason=untrusted_chain\n"
                                   "ERROR: cannot bind 127.0.0.1:1\n"
                                   "W runtime error budget exhausted\n"
                                   "SUMMARY: 3 connections\n")
                   .has_value());
  EXPECT_FALSE(FindSanitizerReport("").has_value());
}

}  // namespace
}  // namespace palisade::testing
