#pragma once
// Message heads as bytes on the wire. Written by hand into one flat string: Beast's serializer
// walks a buffer-sequence view per field, which cost more than the whole rest of a forwarded
// request's user-space work (docs/BENCHMARKS.md).

#include <string>

#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/request_head.hpp"
#include "sluice/proxy/response_head.hpp"

namespace sluice::proxy {

// "HTTP/1.1 200 OK\r\n" + fields + "\r\n", replacing `out`. An empty reason gets the standard one.
void write_head(const http::response_header<>& head, std::string& out);

// How an HTTP/1.x head frames what follows it on the client's connection.
struct Http1Framing {
  unsigned version = kHttp11;
  bool keep_alive = true;  // else HTTP/1.1 says Connection: close; HTTP/1.0 keep-alive when true
  enum class Body {
    as_sent,         // framed as the head's own fields say
    chunked,         // sluice chunks a body the upstream delimited by closing
    close_delimited  // an HTTP/1.0 client: Transfer-Encoding dropped, the close ends the body
  };
  Body body = Body::as_sent;
  std::string_view upgrade;  // a 101's protocol: Connection: Upgrade and this Upgrade sent
};

// "HTTP/1.1 200 OK\r\n" + fields + "\r\n", replacing `out`.
void write_head(const ResponseHead& head, const Http1Framing& framing, std::string& out);

// How a request head frames what follows it on the connection to an HTTP/1.1 upstream.
struct Http1RequestFraming {
  bool chunked = false;      // sluice chunks a body of unknown length (an HTTP/2 client's)
  std::string_view upgrade;  // a handshake's protocol: Connection: Upgrade and this Upgrade sent
};

// "GET /a?b HTTP/1.1\r\n" + fields + "\r\n", replacing `out`.
void write_head(const UpstreamRequestHead& head, const Http1RequestFraming& framing,
                std::string& out);

}  // namespace sluice::proxy
