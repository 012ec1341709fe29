#pragma once
// Message heads as bytes on the wire. Written by hand into one flat string: Beast's serializer
// walks a buffer-sequence view per field, which cost more than the whole rest of a forwarded
// request's user-space work (docs/BENCHMARKS.md).

#include <string>

#include "sluice/proxy/beast.hpp"

namespace sluice::proxy {

// "GET /a?b HTTP/1.1\r\n" + fields + "\r\n", replacing `out`.
void write_head(const http::request_header<>& head, std::string& out);

// "HTTP/1.1 200 OK\r\n" + fields + "\r\n", replacing `out`. An empty reason gets the standard one.
void write_head(const http::response_header<>& head, std::string& out);

}  // namespace sluice::proxy
