#pragma once
// An HTTP/1.1 upstream's response, parsed by Beast's basic_parser into one flat string of names
// and values instead of Beast's field tree (a node allocation, a name lookup and a tree insert per
// field, then a lookup per field sluice drops or sets). The body is read into the caller's
// buffer piece by piece, as Beast's buffer_body does.

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/response_head.hpp"

namespace sluice::proxy {

class UpstreamResponseParser final : public http::basic_parser<false> {
 public:
  // `head_request`: the response to a HEAD has a head only, whatever its fields say.
  UpstreamResponseParser(std::size_t max_header_bytes, bool head_request);

  // Where the next body bytes go: set before each read; `size` is what is left unfilled after
  // it (the read ends with need_buffer when the piece is full).
  struct BodyTarget {
    void* data = nullptr;
    std::size_t size = 0;
  };
  BodyTarget& body() noexcept { return body_; }

  [[nodiscard]] unsigned status() const noexcept { return status_; }
  [[nodiscard]] unsigned version() const noexcept { return version_; }
  // The head as received: status, reason and fields, as views into this parser.
  void head(ResponseHead& out) const;
  [[nodiscard]] std::string_view first(http::field name) const noexcept;
  // A chunked body's trailer fields, once the body is done.
  template <class Visit>
  void for_each_trailer(Visit visit) const {
    for (std::size_t i = head_fields_; i < fields_.size(); ++i) visit(field(i));
  }

 private:
  struct StoredField {
    http::field name;
    std::uint32_t name_at;
    std::uint32_t name_size;
    std::uint32_t value_at;
    std::uint32_t value_size;
  };
  [[nodiscard]] HeadField field(std::size_t i) const noexcept;

  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       error_code&) override;
  void on_response_impl(int code, beast::string_view reason, int version, error_code& ec) override;
  void on_field_impl(http::field name, beast::string_view name_text, beast::string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code& ec) override;
  std::size_t on_body_impl(beast::string_view data, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, beast::string_view extensions,
                            error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t remain, beast::string_view data,
                                 error_code& ec) override;
  void on_finish_impl(error_code& ec) override;

  std::size_t take_body(beast::string_view data, error_code& ec);

  unsigned status_ = 0;
  unsigned version_ = kHttp11;
  std::uint32_t reason_at_ = 0;
  std::uint32_t reason_size_ = 0;
  std::string text_;  // the reason, then every name and value, back to back
  boost::container::small_vector<StoredField, 16> fields_;
  std::size_t head_fields_ = 0;  // the fields before these are the head's; the rest trailers
  BodyTarget body_;
};

// relay()'s access to where a parser puts body bytes.
inline UpstreamResponseParser::BodyTarget& body_of(UpstreamResponseParser& parser) noexcept {
  return parser.body();
}

}  // namespace sluice::proxy
