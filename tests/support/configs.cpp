#include "support/configs.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace sluice::testing {

std::string with_upstream(const TestUpstream& upstream, const std::string& rest) {
  return "version: 1\nupstream: " + upstream.url() + "\ntrusted_proxies: [127.0.0.1/32]\n" + rest;
}

std::string with_admin(const TestUpstream& upstream, const std::string& rest) {
  return "version: 1\nadmin: 127.0.0.1:0\nupstream: " + upstream.url() +
         "\ntrusted_proxies: [127.0.0.1/32]\n" + rest;
}

std::string admin_get(ProxyHarness& proxy, const std::string& target, unsigned expect) {
  Client admin(proxy.server().admin_port());
  const Response res = admin.request("GET", target);
  EXPECT_EQ(res.status, expect) << target;
  return res.body;
}

std::string temp_file(const std::string& name, const std::string& text) {
  const std::string path = "/tmp/sluice-test-" + std::to_string(::getpid()) + "-" + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace sluice::testing
