// The Prometheus files in deploy/prometheus, checked by promtool: the alert
// rules (proxies' and palisade-control's) load, their unit tests pass, and the
// example scrape configuration is valid.
#include <gtest/gtest.h>

#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

constexpr char kDir[] = "deploy/prometheus/";

CommandResult Promtool(std::vector<std::string> args) {
  args.insert(args.begin(), "promtool");
  return RunCommand(args, absl::Seconds(60));
}

TEST(ObservabilityRulesTest, PromtoolAcceptsTheAlertRules) {
  const CommandResult r = Promtool({"check", "rules", std::string(kDir) + "palisade-alerts.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.command << "\n" << r.output;
}

TEST(ObservabilityRulesTest, AlertRuleUnitTestsPass) {
  const CommandResult r =
      Promtool({"test", "rules", std::string(kDir) + "palisade-alerts.test.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.command << "\n" << r.output;
}

TEST(ObservabilityRulesTest, PromtoolAcceptsTheControlPlaneRulesAndTheirUnitTests) {
  CommandResult r = Promtool({"check", "rules", std::string(kDir) + "palisade-control-alerts.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.command << "\n" << r.output;
  r = Promtool({"test", "rules", std::string(kDir) + "palisade-control-alerts.test.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.command << "\n" << r.output;
}

TEST(ObservabilityRulesTest, TheExampleScrapeConfigIsValid) {
  const CommandResult r = Promtool({"check", "config", std::string(kDir) + "prometheus.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.command << "\n" << r.output;
}

}  // namespace
}  // namespace palisade::testing
