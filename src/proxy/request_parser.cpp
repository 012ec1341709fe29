#include "sluice/proxy/request_parser.hpp"

namespace sluice::proxy {

RequestParser::RequestParser(Bounds bounds) {
  header_limit(static_cast<std::uint32_t>(bounds.max_header_bytes));
  body_limit(bounds.max_body_bytes);
}

void RequestParser::on_request_impl(http::verb method, beast::string_view method_text,
                                    beast::string_view target, int version, error_code& /*ec*/) {
  head_.method(method, view(method_text));
  head_.target(view(target));
  head_.version(static_cast<unsigned>(version));
}

void RequestParser::on_response_impl(int /*code*/, beast::string_view /*reason*/, int /*version*/,
                                     error_code& ec) {
  ec = http::error::bad_version;  // never called: this parses requests
}

void RequestParser::on_field_impl(http::field name, beast::string_view name_text,
                                  beast::string_view value, error_code& /*ec*/) {
  if (!head_done_) head_.insert(name, view(name_text), view(value));
}

void RequestParser::on_header_impl(error_code& /*ec*/) {
  head_done_ = true;
}

}  // namespace sluice::proxy
