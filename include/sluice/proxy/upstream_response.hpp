#pragma once
// An HTTP/1.1 upstream's response, parsed by Beast's basic_parser into one flat string of names
// and values instead of Beast's field tree (a node allocation, a name lookup and a tree insert per
// field, then a lookup per field sluice drops or sets). The body is read into the caller's
// buffer piece by piece (piece_parser.hpp).

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/piece_parser.hpp"
#include "sluice/proxy/response_head.hpp"

namespace sluice::proxy {

class UpstreamResponseParser final : public PieceParser<false> {
 public:
  // `head_request`: the response to a HEAD has a head only, whatever its fields say.
  UpstreamResponseParser(std::size_t max_header_bytes, bool head_request);

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

  unsigned status_ = 0;
  unsigned version_ = kHttp11;
  std::uint32_t reason_at_ = 0;
  std::uint32_t reason_size_ = 0;
  [[nodiscard]] std::string_view text(std::uint32_t at, std::uint32_t size) const noexcept;

  // The reason, then every name and value, back to back. Inline: most heads fit, and a
  // response then allocates nothing for its head (the parser lives in the forwarding frame,
  // which a held request does not keep).
  boost::container::small_vector<char, 512> text_;
  boost::container::small_vector<StoredField, 16> fields_;
  std::size_t head_fields_ = 0;  // the fields before these are the head's; the rest trailers
};

}  // namespace sluice::proxy
