// ${VAR}, ${VAR:-default} and $$ in config values (README, "Configuration"), against a fixed
// environment.
#include <gtest/gtest.h>

#include <map>

#include "sluice/config/load.hpp"

namespace sluice::config {
namespace {

const std::map<std::string, std::string> kEnvironment = {
    {"UPSTREAM", "http://10.0.0.7:9000"}, {"RATE", "25"}, {"EMPTY", ""}, {"PREFIX", "/v2"}};

std::optional<std::string> fixed(const std::string& name) {
  const auto it = kEnvironment.find(name);
  if (it == kEnvironment.end()) return std::nullopt;
  return it->second;
}

LoadResult load(const std::string& yaml) {
  return load_string("version: 1\nlisten: 127.0.0.1:8080\n" + yaml, "sluice.yaml", fixed);
}

std::string error_of(const std::string& yaml) {
  const LoadResult r = load(yaml);
  EXPECT_EQ(r.config, nullptr);
  return r.errors.empty() ? "(no error)" : r.errors.front();
}

TEST(ConfigEnvironment, VariableReplacesTheWholeValue) {
  const LoadResult r = load("upstream: ${UPSTREAM}\n");
  ASSERT_NE(r.config, nullptr) << r.errors.at(0);
  EXPECT_EQ(r.config->upstream->host, "10.0.0.7");
  EXPECT_EQ(r.config->upstream->port, 9000);
}

TEST(ConfigEnvironment, VariablesInsideTextAndInNumbers) {
  const LoadResult r = load(
      "upstream: http://127.0.0.1:9000\nroutes:\n"
      "  - name: api\n"
      "    match: { path_prefix: \"${PREFIX}/api\" }\n"
      "    max_rate: ${RATE}\n"  // unquoted only in block style: braces end a flow mapping
      "    time_period: 1s\n");
  ASSERT_NE(r.config, nullptr) << r.errors.at(0);
  EXPECT_EQ(r.config->routes.at(0).match.path, "/v2/api");
  EXPECT_EQ(r.config->routes.at(0).policy.limits.at(0).rate.max_rate, 25);
}

TEST(ConfigEnvironment, DefaultWhenUnsetOrEmpty) {
  const LoadResult r = load(
      "upstream: ${MISSING:-http://127.0.0.1:7000}\nroutes:\n"
      "  - { name: \"${EMPTY:-fallback}\", max_rate: 1, time_period: 1s }\n");
  ASSERT_NE(r.config, nullptr) << r.errors.at(0);
  EXPECT_EQ(r.config->upstream->port, 7000);
  EXPECT_EQ(r.config->routes.at(0).name, "fallback");
}

TEST(ConfigEnvironment, SetVariableWinsOverItsDefault) {
  const LoadResult r = load("upstream: ${UPSTREAM:-http://127.0.0.1:7000}\n");
  ASSERT_NE(r.config, nullptr) << r.errors.at(0);
  EXPECT_EQ(r.config->upstream->port, 9000);
}

TEST(ConfigEnvironment, UnsetVariableWithoutDefaultIsAnErrorNamingItAndItsPlace) {
  const std::string e =
      error_of("upstream: http://127.0.0.1:9000\nlog: { file: \"${LOG_FILE}\" }\n");
  EXPECT_NE(e.find("sluice.yaml:4:"), std::string::npos) << e;
  EXPECT_NE(e.find("log.file"), std::string::npos) << e;
  EXPECT_NE(e.find("LOG_FILE is not set"), std::string::npos) << e;
}

TEST(ConfigEnvironment, DoubleDollarIsALiteralDollar) {
  const LoadResult r = load(
      "upstream: http://127.0.0.1:9000\nroutes:\n"
      "  - { name: a, respond: { status: 200, body: \"costs $$5, not ${RATE}$$\" } }\n");
  ASSERT_NE(r.config, nullptr) << r.errors.at(0);
  EXPECT_EQ(r.config->routes.at(0).respond->body, "costs $5, not 25$");
}

TEST(ConfigEnvironment, ALoneDollarIsKeptSoRegexesNeedNoEscaping) {
  const LoadResult r = load(
      "upstream: http://127.0.0.1:9000\nroutes:\n"
      "  - { name: a, match: { path_regex: \"^/items/[0-9]+$\" }, max_rate: 1, time_period: 1s "
      "}\n");
  ASSERT_NE(r.config, nullptr) << r.errors.at(0);
  EXPECT_TRUE(r.config->routes.at(0).match.regex->matches("/items/12"));
}

TEST(ConfigEnvironment, UnclosedBraceIsAnError) {
  EXPECT_NE(error_of("upstream: \"${UPSTREAM\"\n").find("without its closing"), std::string::npos);
}

TEST(ConfigEnvironment, InvalidNameIsAnError) {
  EXPECT_NE(error_of("upstream: \"${1X}\"\n").find("a variable name is"), std::string::npos);
}

TEST(ConfigEnvironment, KeysAreNotExpanded) {
  EXPECT_NE(error_of("upstream: http://127.0.0.1:9000\n\"${RATE}\": 1\n").find("unknown key"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice::config
