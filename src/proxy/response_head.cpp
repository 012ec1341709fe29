#include "sluice/proxy/response_head.hpp"

#include <algorithm>
#include <boost/beast/http/rfc7230.hpp>

#include "sluice/proxy/exchange.hpp"
#include "sluice/proxy/headers.hpp"

namespace sluice::proxy {

ResponseHead::ResponseHead(const http::response_header<>& head)
    : status(head.result_int()), reason(view(head.reason())) {
  for (const auto& field : head) add(field.name(), view(field.name_string()), view(field.value()));
}

void ResponseHead::add(http::field name, std::string_view value) {
  add(name, view(http::to_string(name)), value);
}

void ResponseHead::remove(http::field name) {
  fields.erase(std::remove_if(fields.begin(), fields.end(),
                              [name](const HeadField& f) { return f.name == name; }),
               fields.end());
}

std::string_view ResponseHead::first(http::field name) const noexcept {
  for (const HeadField& f : fields) {
    if (f.name == name) return f.value;
  }
  return {};
}

void ResponseHead::forward_rules(unsigned version, const Exchange& ex) {
  // The names the Connection lines list, as views into those lines (which stay valid: the
  // fields are views into the upstream's parser).
  boost::container::small_vector<std::string_view, 8> named;
  for (const HeadField& f : fields) {
    if (f.name != http::field::connection) continue;
    for (const auto token : http::token_list(f.value)) named.push_back(view(token));
  }
  const auto is_named = [&named](const HeadField& f) {
    // Framing fields cannot be dropped by an upstream's say-so: the relay needs them.
    if (f.name == http::field::content_length || f.name == http::field::transfer_encoding) {
      return false;
    }
    return std::any_of(named.begin(), named.end(),
                       [&f](std::string_view token) { return beast::iequals(token, f.name_text); });
  };
  // One Via line for all the upstream's, this hop last.
  via_.clear();
  const bool own_ratelimit = !ex.ratelimit.empty();
  const auto replaced = [own_ratelimit](const HeadField& f) {
    return beast::iequals(f.name_text, "X-Request-Id") ||
           (own_ratelimit && (beast::iequals(f.name_text, "RateLimit-Policy") ||
                              beast::iequals(f.name_text, "RateLimit")));
  };
  auto kept = fields.begin();
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (it->name == http::field::via) {
      if (!via_.empty()) via_ += ", ";
      via_ += it->value;
      continue;
    }
    if (is_hop_by_hop(it->name) || replaced(*it) || (!named.empty() && is_named(*it))) continue;
    *kept++ = *it;
  }
  fields.erase(kept, fields.end());
  if (!via_.empty()) via_ += ", ";
  via_ += via_hop(version);
  add(http::field::via, via_);
  if (own_ratelimit) {
    add(http::field::unknown, "RateLimit-Policy", ex.ratelimit_policy());
    add(http::field::unknown, "RateLimit", ex.ratelimit);
  }
  add(http::field::unknown, "X-Request-Id", ex.request_id);
}

namespace {

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

}  // namespace

void write_head(const ResponseHead& head, const Http1Framing& framing, std::string& out) {
  std::size_t size = 64;  // status line, framing fields and the blank line
  for (const HeadField& f : head.fields) size += f.name_text.size() + f.value.size() + 4;
  out.clear();
  out.reserve(size + head.reason.size() + framing.upgrade.size());
  out += framing.version == kHttp10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  const unsigned status = head.status % 1000;  // three digits by the grammar
  const char code[] = {static_cast<char>('0' + status / 100),
                       static_cast<char>('0' + status / 10 % 10),
                       static_cast<char>('0' + status % 10), ' '};
  out.append(code, sizeof code);
  out += head.reason.empty() ? view(http::obsolete_reason(static_cast<http::status>(head.status)))
                             : head.reason;
  out += "\r\n";
  bool chunked_said = false;
  for (const HeadField& f : head.fields) {
    if (f.name == http::field::transfer_encoding) {
      if (framing.body == Http1Framing::Body::close_delimited) continue;
      if (framing.body == Http1Framing::Body::chunked) {
        // A coding the upstream applied (gzip) stays; chunked goes last (RFC 9112 §6.1).
        out += f.name_text;
        out += ": ";
        out += f.value;
        out += ", chunked\r\n";
        chunked_said = true;
        continue;
      }
    }
    append_field(out, f.name_text, f.value);
  }
  if (framing.body == Http1Framing::Body::chunked && !chunked_said) {
    append_field(out, "Transfer-Encoding", "chunked");
  }
  if (!framing.upgrade.empty()) {
    append_field(out, "Upgrade", framing.upgrade);
    append_field(out, "Connection", "Upgrade");
  } else if (framing.version == kHttp10 && framing.keep_alive) {
    append_field(out, "Connection", "keep-alive");
  } else if (framing.version != kHttp10 && !framing.keep_alive) {
    append_field(out, "Connection", "close");
  }
  out += "\r\n";
}

}  // namespace sluice::proxy
