#pragma once
// Header rules of a forwarding proxy (RFC 9110 §7.6) that the request and response heads
// (request_head.hpp, response_head.hpp) share, and the reading of list-valued fields.

#include <span>
#include <string>
#include <string_view>

#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/client_head.hpp"

namespace sluice::proxy {

// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Proxy-Authorization and
// Proxy-Authenticate: the fields that never pass a proxy as they came.
bool is_hop_by_hop(http::field name) noexcept;

// How Via names this hop: "1.1 sluice" (the version of the message sluice received).
std::string_view via_hop(unsigned version) noexcept;

// Every line of a list-valued field, joined with ", " as RFC 9110 §5.3 combines them.
std::string combined_field(const ClientHead& fields, std::string_view name);

// The protocols of a request's Upgrade header that sluice forwards, as the header to send:
// those named in `allowed` (`upgrades:`, lower-case names such as "websocket"), compared as
// tokens without quotes, case and version ("WebSocket/13" is websocket). Empty when Connection
// does not name "upgrade", when none is allowed, and whenever h2c or HTTP/2 is asked for:
// the request is then served as plain HTTP/1.1 (RFC 9110 §7.8 lets a server ignore Upgrade).
std::string upgrade_protocol(const ClientHead& fields, std::span<const std::string> allowed);

// Path and query of an origin-form target: "/a/b?x=1" → "/a/b", "x=1".
std::pair<std::string_view, std::string_view> split_target(std::string_view target) noexcept;

}  // namespace sluice::proxy
