#pragma once
// Beast's basic_parser with the body written into a piece the caller lends for each read, as
// Beast's buffer_body does, without a message object around it: the request and response
// parsers keep their heads their own way (client_head.hpp, upstream_response.hpp).

#include <algorithm>
#include <cstring>

#include "sluice/proxy/beast.hpp"

namespace sluice::proxy {

template <bool isRequest>
class PieceParser : public http::basic_parser<isRequest> {
 public:
  // Where the next body bytes go: set before each read; `size` is what is left unfilled after
  // it (the read ends with need_buffer when the piece is full).
  struct BodyTarget {
    void* data = nullptr;
    std::size_t size = 0;
  };
  BodyTarget& body() noexcept { return body_; }

 protected:
  void on_body_init_impl(const boost::optional<std::uint64_t>& /*length*/,
                         error_code& /*ec*/) override {}
  std::size_t on_body_impl(beast::string_view data, error_code& ec) override {
    return take_body(data, ec);
  }
  void on_chunk_header_impl(std::uint64_t /*size*/, beast::string_view /*extensions*/,
                            error_code& /*ec*/) override {}
  std::size_t on_chunk_body_impl(std::uint64_t /*remain*/, beast::string_view data,
                                 error_code& ec) override {
    return take_body(data, ec);
  }
  void on_finish_impl(error_code& /*ec*/) override {}

 private:
  std::size_t take_body(beast::string_view data, error_code& ec) {
    if (body_.data == nullptr) {
      ec = http::error::need_buffer;
      return 0;
    }
    const std::size_t n = std::min(data.size(), body_.size);
    std::memcpy(body_.data, data.data(), n);
    body_.data = static_cast<char*>(body_.data) + n;
    body_.size -= n;
    if (n < data.size()) ec = http::error::need_buffer;
    return n;
  }

  BodyTarget body_;
};

// relay()'s access to where a parser puts body bytes.
template <bool isRequest>
typename PieceParser<isRequest>::BodyTarget& body_of(PieceParser<isRequest>& parser) noexcept {
  return parser.body();
}

}  // namespace sluice::proxy
