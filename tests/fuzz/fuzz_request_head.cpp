// libFuzzer: a request head through Beast's parser, the router and key extraction, as a session
// uses them.
#include <boost/beast/http.hpp>
#include <cstdint>
#include <string>

#include "sluice/config/load.hpp"
#include "sluice/config/router.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/proxy/headers.hpp"

namespace {

namespace http = boost::beast::http;

const sluice::config::Config& config() {
  static const auto loaded = sluice::config::load_string(R"(version: 1
listen: 127.0.0.1:1
upstream: http://127.0.0.1:2
trusted_proxies: [127.0.0.0/8, "::1"]
routes:
  - { name: a, match: { path_regex: "/items/[0-9]+(/.*)?" }, key: [client_ip, "header:X-Api-Key"], max_rate: 1, time_period: 1s }
  - { name: b, match: { path_prefix: /api, methods: [GET, POST], host: api.example.com }, key: "query:k", max_rate: 1, time_period: 1s }
  - { name: c, match: { path: /login }, key: global, max_rate: 1, time_period: 1s }
)",
                                                         "fuzz.yaml");
  return *loaded.config;
}

class Facts final : public sluice::limit::RequestFacts {
 public:
  Facts(const http::fields& f, std::string_view q, std::string_view ip) : f_(f), q_(q), ip_(ip) {}
  std::optional<std::string_view> header(std::string_view name) const override {
    const auto it = f_.find(name);
    if (it == f_.end()) return std::nullopt;
    return std::string_view(it->value().data(), it->value().size());
  }
  std::optional<std::string_view> query(std::string_view p) const override {
    return sluice::limit::query_param(q_, p);
  }
  std::string_view client_ip() const override { return ip_; }

 private:
  const http::fields& f_;
  std::string_view q_;
  std::string_view ip_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  http::request_parser<http::empty_body> parser;
  parser.header_limit(16384);
  parser.eager(false);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;
  auto& req = parser.get();
  const std::string target(req.target());
  const auto [path, query] = sluice::proxy::split_target(target);
  const auto host = sluice::proxy::host_without_port(
      std::string_view(req[http::field::host].data(), req[http::field::host].size()));
  const auto* route = sluice::config::match_route(
      config(), std::string_view(req.method_string().data(), req.method_string().size()), path,
      host);
  const auto xff = req["X-Forwarded-For"];
  const auto peer = *sluice::IpAddress::parse("127.0.0.1");
  const std::string client =
      sluice::limit::client_address(peer, std::string_view(xff.data(), xff.size()),
                                    config().trusted_proxies)
          .to_string();
  if (route != nullptr) {
    const Facts facts(req, query, client);
    for (const auto& limit : route->policy.limits) {
      const std::string key = sluice::limit::render_key(limit.key, facts);
      if (key.size() > 4 * 1024) __builtin_trap();  // key length must stay bounded
    }
  }
  sluice::proxy::strip_hop_by_hop(req);
  sluice::proxy::add_forwarding(req, client, req.version());
  return 0;
}
