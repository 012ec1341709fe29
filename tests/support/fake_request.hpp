#pragma once
// A request as the limiter reads it, made of plain values: headers (a name may repeat), a raw
// query string and the client key.

#include <string>
#include <utility>
#include <vector>

#include <strings.h>

#include "sluice/limit/key.hpp"

namespace sluice::testing {

class FakeRequest final : public limit::RequestFacts {
 public:
  std::vector<std::pair<std::string, std::string>> headers;
  std::string query_string;
  std::string ip = "203.0.113.7";
  std::string cert;  // a verified client certificate's CN; empty: none

  [[nodiscard]] uri::Lookup header(std::string_view name) const override {
    uri::Lookup found;
    for (const auto& [n, v] : headers) {
      if (n.size() != name.size() || ::strncasecmp(n.data(), name.data(), n.size()) != 0) continue;
      found.state = found.state == uri::Lookup::State::missing ? uri::Lookup::State::found
                                                               : uri::Lookup::State::ambiguous;
      found.value = v;
    }
    return found;
  }
  [[nodiscard]] uri::Lookup query(std::string_view param) const override {
    return uri::find_query_param(query_string, param);
  }
  [[nodiscard]] std::string_view client_ip() const override { return ip; }
  [[nodiscard]] std::string_view client_cert() const override { return cert; }
};

}  // namespace sluice::testing
