#include "sluice/proxy/upstream_response.hpp"

namespace sluice::proxy {

UpstreamResponseParser::UpstreamResponseParser(std::size_t max_header_bytes, bool head_request) {
  header_limit(static_cast<std::uint32_t>(max_header_bytes));
  body_limit(boost::none);
  skip(head_request);
}

std::string_view UpstreamResponseParser::text(std::uint32_t at, std::uint32_t size) const noexcept {
  return {text_.data() + at, size};
}

HeadField UpstreamResponseParser::field(std::size_t i) const noexcept {
  const StoredField& f = fields_[i];
  return {f.name, text(f.name_at, f.name_size), text(f.value_at, f.value_size)};
}

void UpstreamResponseParser::head(ResponseHead& out) const {
  out.status = status_;
  out.reason = text(reason_at_, reason_size_);
  out.fields.clear();
  for (std::size_t i = 0; i < head_fields_; ++i) out.fields.push_back(field(i));
}

std::string_view UpstreamResponseParser::first(http::field name) const noexcept {
  for (std::size_t i = 0; i < head_fields_; ++i) {
    if (fields_[i].name == name) return field(i).value;
  }
  return {};
}

void UpstreamResponseParser::on_request_impl(http::verb, beast::string_view, beast::string_view,
                                             int, error_code& ec) {
  ec = http::error::bad_method;  // never called: this parses responses
}

void UpstreamResponseParser::on_response_impl(int code, beast::string_view reason, int version,
                                              error_code& /*ec*/) {
  status_ = static_cast<unsigned>(code);
  version_ = static_cast<unsigned>(version);
  reason_at_ = static_cast<std::uint32_t>(text_.size());
  reason_size_ = static_cast<std::uint32_t>(reason.size());
  text_.insert(text_.end(), reason.begin(), reason.end());
}

// Sizes fit in 32 bits: the head is bounded by max_header_bytes, and so are trailers by Beast.
void UpstreamResponseParser::on_field_impl(http::field name, beast::string_view name_text,
                                           beast::string_view value, error_code& /*ec*/) {
  StoredField f{name, static_cast<std::uint32_t>(text_.size()),
                static_cast<std::uint32_t>(name_text.size()), 0,
                static_cast<std::uint32_t>(value.size())};
  text_.insert(text_.end(), name_text.begin(), name_text.end());
  f.value_at = static_cast<std::uint32_t>(text_.size());
  text_.insert(text_.end(), value.begin(), value.end());
  fields_.push_back(f);
}

void UpstreamResponseParser::on_header_impl(error_code& /*ec*/) {
  head_fields_ = fields_.size();
}

}  // namespace sluice::proxy
