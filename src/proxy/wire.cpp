#include "sluice/proxy/wire.hpp"

namespace sluice::proxy {
namespace {

void append(std::string& out, beast::string_view s) {
  out.append(s.data(), s.size());
}

void append_version(std::string& out, unsigned version) {
  out += version == kHttp10 ? "HTTP/1.0" : "HTTP/1.1";
}

void append_fields(const http::fields& fields, std::string& out) {
  for (const auto& field : fields) {
    append(out, field.name_string());
    out += ": ";
    append(out, field.value());
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace

void write_head(const http::request_header<>& head, std::string& out) {
  out.clear();
  append(out, head.method_string());
  out += ' ';
  append(out, head.target());
  out += ' ';
  append_version(out, head.version());
  out += "\r\n";
  append_fields(head, out);
}

void write_head(const http::response_header<>& head, std::string& out) {
  out.clear();
  append_version(out, head.version());
  const unsigned status = head.result_int() % 1000;  // three digits by the grammar
  const char code[] = {' ', static_cast<char>('0' + status / 100),
                       static_cast<char>('0' + status / 10 % 10),
                       static_cast<char>('0' + status % 10)};
  out.append(code, sizeof code);
  out += ' ';
  const auto reason = head.reason();
  append(out, reason.empty() ? http::obsolete_reason(head.result()) : reason);
  out += "\r\n";
  append_fields(head, out);
}

}  // namespace sluice::proxy
