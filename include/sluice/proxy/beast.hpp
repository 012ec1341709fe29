#pragma once
// Names the proxy layer uses for Boost.Asio and Boost.Beast.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <string_view>

#include "sluice/core/clock.hpp"
#include "sluice/core/event_loop.hpp"

namespace sluice::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// HTTP versions as Beast numbers them.
inline constexpr unsigned kHttp10 = 10;
inline constexpr unsigned kHttp11 = 11;
inline constexpr unsigned kHttp2 = 20;  // not Beast's: HTTP/2 streams as the exchange sees them

// Beast's string views as the standard's.
inline std::string_view view(beast::string_view s) {
  return {s.data(), s.size()};
}
inline std::string_view view(std::string_view s) {
  return s;
}

inline std::chrono::nanoseconds to_duration(Nanos n) {
  return std::chrono::nanoseconds(n);
}

}  // namespace sluice::proxy
