#pragma once
// An HTTP/1.x request parsed by Beast's basic_parser into a ClientHead, its body read piece by
// piece into the caller's buffer. Trailers of a chunked body are read and dropped: the head
// went upstream before them.

#include <cstdint>

#include "sluice/proxy/client_head.hpp"
#include "sluice/proxy/piece_parser.hpp"

namespace sluice::proxy {

class RequestParser final : public PieceParser<true> {
 public:
  struct Bounds {
    std::size_t max_header_bytes;
    std::uint64_t max_body_bytes;
  };
  explicit RequestParser(Bounds bounds);

  ClientHead& get() noexcept { return head_; }
  [[nodiscard]] const ClientHead& get() const noexcept { return head_; }

 private:
  void on_request_impl(http::verb method, beast::string_view method_text, beast::string_view target,
                       int version, error_code& ec) override;
  void on_response_impl(int, beast::string_view, int, error_code& ec) override;
  void on_field_impl(http::field name, beast::string_view name_text, beast::string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override;

  ClientHead head_;
  bool head_done_ = false;
};

}  // namespace sluice::proxy
