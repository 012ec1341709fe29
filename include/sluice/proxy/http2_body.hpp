#pragma once
// A body sluice sends on an HTTP/2 stream, whichever way it goes (a response to a client, a
// request to an upstream): the stream's coroutine appends to it, and nghttp2 pulls from it
// through a data provider as the peer's window allows.

#include <nghttp2/nghttp2.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::proxy {

using Http2Fields = std::vector<std::pair<std::string, std::string>>;

// A header field for nghttp2, which copies it (NGHTTP2_NV_FLAG_NONE) before the call returns.
inline nghttp2_nv name_value(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

// What has been handed over of a body and how much of it nghttp2 has taken.
struct Http2BodySource {
  std::string& data;
  std::size_t& taken;
  bool complete;                // nothing more will be appended
  const Http2Fields& trailers;  // sent after the body, ending the stream instead of it
};

// The data provider's read: copies what is there into `buf` and returns how much; defers while
// nothing new has come and the body is not complete; at its end, EOF, with the trailers
// submitted when there are some.
ssize_t read_http2_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                        std::size_t length, std::uint32_t* data_flags, const Http2BodySource& body);

}  // namespace sluice::proxy
