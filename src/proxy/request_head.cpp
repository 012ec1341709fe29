#include "sluice/proxy/request_head.hpp"

#include <algorithm>

#include "sluice/core/ascii.hpp"
#include "sluice/proxy/headers.hpp"

namespace sluice::proxy {
namespace {

// The fields sluice writes itself: what the client sent of them is replaced, or added to.
enum class Own { no, forwarded_for, forwarded_proto, request_id, via };

Own own_field(const HeadField& field) {
  if (field.name == http::field::via) return Own::via;
  if (field.name != http::field::unknown) return Own::no;
  if (beast::iequals(field.name_text, "X-Forwarded-For")) return Own::forwarded_for;
  if (beast::iequals(field.name_text, "X-Forwarded-Proto")) return Own::forwarded_proto;
  if (beast::iequals(field.name_text, "X-Request-Id")) return Own::request_id;
  return Own::no;
}

void append_listed(std::string& list, std::string_view item) {
  if (item.empty()) return;
  if (!list.empty()) list += ", ";
  list += item;
}

}  // namespace

UpstreamRequestHead::UpstreamRequestHead(const ClientHead& request, const Forwarding& how)
    : method(view(request.method_string())), target(view(request.target())), host_(how.authority) {
  trailers_asked = beast::iequals(request[http::field::te], "trailers");
  for (const auto& field : request) {
    fields.push_back({field.name(), view(field.name_string()), view(field.value())});
  }
  drop_hop_by_hop(fields);
  bool host_seen = false;
  auto kept = fields.begin();
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    // sluice answers an expectation itself, once the request is admitted.
    if (it->name == http::field::expect) continue;
    switch (own_field(*it)) {
      case Own::forwarded_for:
        append_listed(forwarded_for_, it->value);
        continue;
      case Own::via:
        append_listed(via_, it->value);
        continue;
      case Own::forwarded_proto:
      case Own::request_id:
        continue;
      case Own::no:
        break;
    }
    if (it->name == http::field::host) {
      host_seen = true;
      if (!host_.empty()) it->value = host_;
    }
    *kept++ = *it;
  }
  fields.erase(kept, fields.end());
  if (!host_seen && !host_.empty()) {
    fields.push_back({http::field::host, "Host", host_});
  }
  append_listed(forwarded_for_, how.peer);
  if (!forwarded_for_.empty()) {
    fields.push_back({http::field::unknown, "X-Forwarded-For", forwarded_for_});
  }
  fields.push_back({http::field::unknown, "X-Forwarded-Proto", how.tls ? "https" : "http"});
  append_listed(via_, via_hop(how.version));
  fields.push_back({http::field::via, "Via", via_});
  fields.push_back({http::field::unknown, "X-Request-Id", how.request_id});
}

std::string_view UpstreamRequestHead::host() const noexcept {
  for (const HeadField& f : fields) {
    if (f.name == http::field::host) return f.value;
  }
  return {};
}

void UpstreamRequestHead::remove(http::field name) {
  fields.erase(std::remove_if(fields.begin(), fields.end(),
                              [name](const HeadField& f) { return f.name == name; }),
               fields.end());
}

void UpstreamRequestHead::set_content_length(std::uint64_t length) {
  remove(http::field::content_length);
  content_length_ = std::to_string(length);
  fields.push_back({http::field::content_length, "Content-Length", content_length_});
}

std::vector<std::pair<std::string, std::string>> http2_request_headers(
    const UpstreamRequestHead& head, bool tls_upstream) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(head.fields.size() + 5);
  headers.emplace_back(":method", head.method);
  headers.emplace_back(":scheme", tls_upstream ? "https" : "http");
  headers.emplace_back(":authority", head.host());
  headers.emplace_back(":path", head.target);
  for (const HeadField& f : head.fields) {
    if (f.name == http::field::host) continue;
    headers.emplace_back(ascii_lower(f.name_text), f.value);
  }
  if (head.trailers_asked) headers.emplace_back("te", "trailers");  // gRPC servers require it
  return headers;
}

}  // namespace sluice::proxy
