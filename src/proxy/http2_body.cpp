#include "sluice/proxy/http2_body.hpp"

#include <algorithm>
#include <cstring>

namespace sluice::proxy {
namespace {

void end_body(nghttp2_session* session, std::int32_t stream_id, const Http2BodySource& body,
              std::uint32_t* data_flags) {
  *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  if (body.trailers.empty()) return;
  *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
  std::vector<nghttp2_nv> nv;
  nv.reserve(body.trailers.size());
  for (const auto& [name, value] : body.trailers) nv.push_back(name_value(name, value));
  nghttp2_submit_trailer(session, stream_id, nv.data(), nv.size());
}

}  // namespace

ssize_t read_http2_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                        std::size_t length, std::uint32_t* data_flags,
                        const Http2BodySource& body) {
  const std::size_t available = body.data.size() - body.taken;
  if (available == 0) {
    if (!body.complete) return NGHTTP2_ERR_DEFERRED;
    end_body(session, stream_id, body, data_flags);
    return 0;
  }
  const std::size_t n = std::min(length, available);
  std::memcpy(buf, body.data.data() + body.taken, n);
  body.taken += n;
  if (body.taken == body.data.size()) {
    body.data.clear();
    body.taken = 0;
    if (body.complete) end_body(session, stream_id, body, data_flags);
  }
  return static_cast<ssize_t>(n);
}

}  // namespace sluice::proxy
