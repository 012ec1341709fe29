#pragma once
// The config prefixes, admin calls and temporary files the integration tests share.

#include <string>

#include "support/proxy_harness.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {

// "version: 1", `upstream` as the default upstream and 127.0.0.1 as a trusted proxy (so tests
// can play clients through X-Forwarded-For), then `rest`.
std::string with_upstream(const TestUpstream& upstream, const std::string& rest);
// The same with an admin listener on 127.0.0.1:0.
std::string with_admin(const TestUpstream& upstream, const std::string& rest);

// GET `target` on the admin listener; the status is expected to be `expect`.
std::string admin_get(ProxyHarness& proxy, const std::string& target, unsigned expect = 200);

// Writes `text` to a file under /tmp named after this process and `name`; returns its path.
std::string temp_file(const std::string& name, const std::string& text);

}  // namespace sluice::testing
