// libFuzzer: a request head through read_request (the checks, the target normaliser, the client
// walk and the router, exactly as the session's admission runs them) and key extraction, with
// the normaliser's invariants asserted on every input.
#include <boost/beast/http.hpp>
#include <cstdint>
#include <string>

#include "sluice/config/load.hpp"
#include "sluice/limit/key.hpp"
#include "sluice/proxy/request_checks.hpp"
#include "sluice/proxy/request_head.hpp"
#include "sluice/proxy/request_parser.hpp"
#include "sluice/proxy/wire.hpp"

namespace {

namespace uri = sluice::uri;

const sluice::config::Config& config() {
  static const auto loaded = sluice::config::load_string(R"(version: 1
listen: 127.0.0.1:1
upstream: http://127.0.0.1:2
trusted_proxies: [127.0.0.0/8, "::1"]
routes:
  - { name: a, match: { path_regex: "/items/[0-9]+(/.*)?" }, key: [client_ip, "header:X-Api-Key"], max_rate: 1, time_period: 1s }
  - { name: b, match: { path_prefix: /api, methods: [GET, POST], host: api.example.com }, key: "query:k", max_rate: 1, time_period: 1s }
  - { name: c, match: { path: /login, ignore_case: true }, key: global, max_rate: 1, time_period: 1s }
)",
                                                         "fuzz.yaml");
  return *loaded.config;
}

// Normalising twice changes nothing; with merging on, no "//", and never "/./", "/../" or NUL.
void check_normalizer(std::string_view path) {
  for (const auto slashes :
       {uri::EscapedSlashes::keep, uri::EscapedSlashes::reject, uri::EscapedSlashes::decode}) {
    for (const bool merge : {true, false}) {
      const uri::PathOptions options{.merge_slashes = merge, .escaped_slashes = slashes};
      std::string error;
      const auto once = uri::normalize_path(path, options, error);
      if (!once) continue;
      const auto twice = uri::normalize_path(*once, options, error);
      if (!twice || *twice != *once) __builtin_trap();
      if (once->find('\0') != std::string::npos) __builtin_trap();
      if (once->find("/./") != std::string::npos || once->find("/../") != std::string::npos ||
          once->ends_with("/.") || once->ends_with("/..")) {
        __builtin_trap();
      }
      if (merge && once->find("//") != std::string::npos) __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The normaliser sees every input as a path, whatever the parser would make of it.
  check_normalizer(std::string("/") + std::string(bytes.substr(0, bytes.find('\n'))));
  if (!sluice::proxy::starts_like_http(bytes)) return 0;
  if (sluice::proxy::check_head_bytes(bytes)) return 0;
  sluice::proxy::RequestParser parser({.max_header_bytes = 16384, .max_body_bytes = 1 << 20});
  parser.eager(false);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;
  auto& req = parser.get();
  // What the session's admission runs, in its order: framing, target, client, route.
  const auto peer = *sluice::IpAddress::parse("127.0.0.1");
  auto reading = sluice::proxy::read_request(req, parser.chunked(), peer, "127.0.0.1", config());
  const auto* read = std::get_if<sluice::proxy::ReadRequest>(&reading);
  if (read == nullptr) return 0;
  if (read->target.path != "*") check_normalizer(read->target.path);
  if (req.target() != read->target.forwarded) __builtin_trap();  // the request was rewritten
  const auto* route = read->route;
  const auto& client = read->client;
  if (route != nullptr) {
    const sluice::proxy::HeadFacts facts(req, read->target.query,
                                         {.key = read->client_key, .cert = {}});
    if (!sluice::limit::key_input_problem(route->policy, facts).empty()) return 0;
    for (const auto& limit : route->policy.limits) {
      const std::string key = sluice::limit::render_key(limit.key, facts);
      if (key.size() > 4 * 1024) __builtin_trap();  // key length must stay bounded
      (void)sluice::limit::render_key(limit.key, facts, sluice::limit::KeyText::digest);
    }
    (void)sluice::limit::masked_target(route->policy, read->target.forwarded);
  }
  // The head as the upstream gets it, over HTTP/1.1 and over HTTP/2.
  const std::string client_text = client.to_string();
  const sluice::proxy::UpstreamRequestHead outgoing(req, {.peer = client_text,
                                                          .version = req.version(),
                                                          .tls = false,
                                                          .request_id = "id",
                                                          .authority = {}});
  std::string bytes_out;
  sluice::proxy::write_head(outgoing, {}, bytes_out);
  if (bytes_out.find("\r\n\r\n") != bytes_out.size() - 4) __builtin_trap();  // one head, ended
  (void)sluice::proxy::http2_request_headers(outgoing, false);
  return 0;
}
