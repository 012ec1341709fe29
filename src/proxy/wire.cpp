#include "sluice/proxy/wire.hpp"

#include <cstring>

namespace sluice::proxy {
namespace {

// A head written in one pass into a string sized once for the longest it can be: each piece is a
// copy, where std::string's append checked the capacity at every piece (four per field, 2 000
// instructions per forwarded response head: docs/BENCHMARKS.md).
class HeadWriter {
 public:
  HeadWriter(std::string& out, std::size_t most) : out_(out) {
    out_.resize(most);
    at_ = out_.data();
  }
  HeadWriter(const HeadWriter&) = delete;
  HeadWriter& operator=(const HeadWriter&) = delete;
  ~HeadWriter() { out_.resize(static_cast<std::size_t>(at_ - out_.data())); }

  void put(std::string_view s) noexcept {
    std::memcpy(at_, s.data(), s.size());
    at_ += s.size();
  }
  void put(beast::string_view s) noexcept { put(view(s)); }
  void field(std::string_view name, std::string_view value) noexcept {
    put(name);
    put(std::string_view(": "));
    put(value);
    put(std::string_view("\r\n"));
  }
  void version(unsigned v) noexcept {
    put(std::string_view(v == kHttp10 ? "HTTP/1.0" : "HTTP/1.1"));
  }
  // " 200 " (three digits by the grammar).
  void status(unsigned code) noexcept {
    code %= 1000;
    const char digits[] = {' ', static_cast<char>('0' + code / 100),
                           static_cast<char>('0' + code / 10 % 10),
                           static_cast<char>('0' + code % 10), ' '};
    put(std::string_view(digits, sizeof digits));
  }

  // What a field takes on the wire.
  static constexpr std::size_t size_of(std::string_view name, std::string_view value) noexcept {
    return name.size() + value.size() + 4;
  }

 private:
  std::string& out_;
  char* at_;
};

constexpr std::size_t kLineEnds = 2 + 2;        // the start line's and the blank line's CRLF
constexpr std::size_t kStatusLine = 8 + 5 + 2;  // "HTTP/1.1", " 200 ", CRLF, besides the reason

std::size_t size_of_fields(const http::fields& fields) {
  std::size_t size = 0;
  for (const auto& f : fields) {
    size += HeadWriter::size_of(view(f.name_string()), view(f.value()));
  }
  return size;
}

void put_fields(HeadWriter& out, const http::fields& fields) {
  for (const auto& f : fields) out.field(view(f.name_string()), view(f.value()));
}

std::string_view reason_of(std::string_view reason, unsigned status) {
  return reason.empty() ? view(http::obsolete_reason(static_cast<http::status>(status))) : reason;
}

}  // namespace

void write_head(const http::response_header<>& head, std::string& out) {
  const std::string_view reason = reason_of(view(head.reason()), head.result_int());
  HeadWriter w(out, kStatusLine + reason.size() + 2 + size_of_fields(head));
  w.version(head.version());
  w.status(head.result_int());
  w.put(reason);
  w.put(std::string_view("\r\n"));
  put_fields(w, head);
  w.put(std::string_view("\r\n"));
}

void write_head(const ResponseHead& head, const Http1Framing& framing, std::string& out) {
  static constexpr std::string_view kChunked = ", chunked";
  // The fields sluice may add: Transfer-Encoding, then Upgrade and Connection.
  static constexpr std::size_t kFramingFields = 64;
  const std::string_view reason = reason_of(head.reason, head.status);
  std::size_t most = kStatusLine + reason.size() + 2 + kFramingFields + framing.upgrade.size();
  for (const HeadField& f : head.fields) {
    most += HeadWriter::size_of(f.name_text, f.value) + kChunked.size();
  }
  HeadWriter w(out, most);
  w.version(framing.version);
  w.status(head.status);
  w.put(reason);
  w.put(std::string_view("\r\n"));
  bool chunked_said = false;
  for (const HeadField& f : head.fields) {
    if (f.name == http::field::transfer_encoding) {
      if (framing.body == Http1Framing::Body::close_delimited) continue;
      if (framing.body == Http1Framing::Body::chunked) {
        // A coding the upstream applied (gzip) stays; chunked goes last (RFC 9112 §6.1).
        w.put(f.name_text);
        w.put(std::string_view(": "));
        w.put(f.value);
        w.put(kChunked);
        w.put(std::string_view("\r\n"));
        chunked_said = true;
        continue;
      }
    }
    w.field(f.name_text, f.value);
  }
  if (framing.body == Http1Framing::Body::chunked && !chunked_said) {
    w.field("Transfer-Encoding", "chunked");
  }
  if (!framing.upgrade.empty()) {
    w.field("Upgrade", framing.upgrade);
    w.field("Connection", "Upgrade");
  } else if (framing.version == kHttp10 && framing.keep_alive) {
    w.field("Connection", "keep-alive");
  } else if (framing.version != kHttp10 && !framing.keep_alive) {
    w.field("Connection", "close");
  }
  w.put(std::string_view("\r\n"));
}

void write_head(const UpstreamRequestHead& head, const Http1RequestFraming& framing,
                std::string& out) {
  // Transfer-Encoding, Upgrade and Connection, when sluice adds them.
  static constexpr std::size_t kFramingFields = 64;
  std::size_t most = head.method.size() + head.target.size() + 10 + kLineEnds + kFramingFields +
                     framing.upgrade.size();
  for (const HeadField& f : head.fields) most += HeadWriter::size_of(f.name_text, f.value);
  HeadWriter w(out, most);
  w.put(head.method);
  w.put(std::string_view(" "));
  w.put(head.target);
  w.put(std::string_view(" HTTP/1.1\r\n"));
  for (const HeadField& f : head.fields) w.field(f.name_text, f.value);
  if (framing.chunked) w.field("Transfer-Encoding", "chunked");
  if (!framing.upgrade.empty()) {
    w.field("Upgrade", framing.upgrade);
    w.field("Connection", "Upgrade");
  }
  w.put(std::string_view("\r\n"));
}

}  // namespace sluice::proxy
