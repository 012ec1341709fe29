#pragma once
// What the config schema tests share: a body loaded behind a head of required keys, the one
// error of a config that must fail, the config of one that must load.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "sluice/config/load.hpp"

namespace sluice::testing {

// version, listen and a default upstream: what most schema tests take for granted.
inline constexpr const char* kConfigHead =
    "version: 1\nlisten: 127.0.0.1:8080\nupstream: http://127.0.0.1:9000\n";

inline config::LoadResult load_body(const std::string& body, const char* head = kConfigHead) {
  return config::load_string(head + body, "sluice.yaml");
}

// The first error of a config that must not load.
inline std::string error_of(const std::string& body, const char* head = kConfigHead) {
  const config::LoadResult r = load_body(body, head);
  EXPECT_EQ(r.config, nullptr);
  return r.errors.empty() ? "(no error)" : r.errors.front();
}

// The config of one that must load; its errors, if any, fail the test.
inline std::shared_ptr<const config::Config> ok(const std::string& body,
                                                const char* head = kConfigHead) {
  config::LoadResult r = load_body(body, head);
  for (const auto& e : r.errors) ADD_FAILURE() << e;
  return r.config;
}

}  // namespace sluice::testing
