// The HTTP/2 connection itself: libnghttp2 driven from Asio (bytes in, frames out), streams
// opened and closed, and the connection-level defences. What a stream does once its head is in
// is http2_exchange.cpp's.
#include "sluice/proxy/http2_connection.hpp"

#include "sluice/proxy/http2_body.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <boost/asio/write.hpp>
#include <cstring>

#include "sluice/core/ascii.hpp"
#include "sluice/proxy/http2_stream.hpp"
#include "sluice/proxy/response_head.hpp"
#include "sluice/proxy/worker.hpp"

namespace sluice::proxy {
namespace {

// What one write may gather from nghttp2 before it goes out: a few frames of a full window.
constexpr std::size_t kWriteBatch = std::size_t{64} * 1024;
// The window each stream opens with: what a client may send before sluice has passed any of it
// upstream. nghttp2's window updates follow what the upstream took (no automatic updates), so a
// slow upstream slows the client and a stream never buffers more than this.
constexpr std::int32_t kStreamWindow = 256 * 1024;
constexpr std::int32_t kConnectionWindow = 1024 * 1024;

std::string_view as_view(const std::uint8_t* data, std::size_t length) {
  return {reinterpret_cast<const char*>(data), length};
}

}  // namespace

namespace {

// Header fields that belong to one HTTP/1.1 connection and have no place in HTTP/2.
bool connection_specific(http::field name) noexcept {
  return name == http::field::connection || name == http::field::keep_alive ||
         name == http::field::proxy_connection || name == http::field::transfer_encoding ||
         name == http::field::upgrade;
}

// Values no later response repeats. Left to nghttp2's default they would each enter the
// connection's HPACK table and evict an older entry: 8 000 instructions per response, a seventh
// of a forwarded stream's (docs/BENCHMARKS.md), to compress what never recurs.
// `lower_name`: the field's name lower-cased.
bool unique_per_response(http::field name, std::string_view lower_name) noexcept {
  return name == http::field::date || lower_name == "x-request-id" || lower_name == "ratelimit";
}

// A response head as HTTP/2 headers: names lower-cased into `names_` (one string, sized up front)
// and connection fields dropped. `nv` views into this object's strings, which stay put: it is
// neither copied nor moved. Written through a pointer: appended a character at a time, with a
// case-insensitive compare per field for the unindexed ones, this took 2 000 instructions per
// response.
class ResponseHeaders {
 public:
  explicit ResponseHeaders(const ResponseHead& head) : status_(std::to_string(head.status)) {
    nv.push_back(name_value(":status", status_));
    std::size_t total = 0;
    for (const HeadField& field : head.fields) total += field.name_text.size();
    names_.resize(total);
    char* out = names_.data();
    for (const HeadField& field : head.fields) {
      if (connection_specific(field.name)) continue;
      const std::string_view lower(out, field.name_text.size());
      for (const char c : field.name_text) *out++ = ascii_lower(c);
      nv.push_back(name_value(lower, field.value));
      if (unique_per_response(field.name, lower)) nv.back().flags = NGHTTP2_NV_FLAG_NO_INDEX;
    }
  }
  ResponseHeaders(const ResponseHeaders&) = delete;
  ResponseHeaders& operator=(const ResponseHeaders&) = delete;

  boost::container::small_vector<nghttp2_nv, 24> nv;

 private:
  std::string status_;
  std::string names_;
};

}  // namespace

// nghttp2's C callbacks, each handing over to the connection named by user_data.
struct Http2Callbacks {
  static Http2Connection& of(void* user_data) { return *static_cast<Http2Connection*>(user_data); }
  static Http2Stream* stream_of(nghttp2_session* session, std::int32_t id) {
    return static_cast<Http2Stream*>(nghttp2_session_get_stream_user_data(session, id));
  }

  static int begin_headers(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                           void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    return of(user_data).on_begin_headers(frame->hd.stream_id);
  }

  static int header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                    std::uint8_t /*flags*/, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Http2Stream* s = stream_of(session, frame->hd.stream_id);
    if (s == nullptr) return 0;
    return of(user_data).on_header(*s, as_view(name, name_length), as_view(value, value_length));
  }

  static int frame_received(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    Http2Connection& c = of(user_data);
    if (frame->hd.type == NGHTTP2_RST_STREAM) return c.on_reset_received();
    Http2Stream* s = stream_of(session, frame->hd.stream_id);
    if (s == nullptr) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      const int rv = c.on_request_head(*s);
      if (rv != 0) return rv;
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      c.on_request_end(*s);
    }
    return 0;
  }

  static int data_chunk(nghttp2_session* session, std::uint8_t /*flags*/, std::int32_t stream_id,
                        const std::uint8_t* data, std::size_t length, void* user_data) {
    Http2Stream* s = stream_of(session, stream_id);
    if (s == nullptr) {
      // A stream already answered: its bytes are dropped, and given back to the window.
      nghttp2_session_consume(session, stream_id, length);
      return 0;
    }
    return of(user_data).on_data(*s, data, length);
  }

  static int stream_closed(nghttp2_session* /*session*/, std::int32_t stream_id,
                           std::uint32_t /*error_code*/, void* user_data) {
    of(user_data).on_stream_close(stream_id);
    return 0;
  }

  // A response body as the stream's coroutine hands it over: deferred while it has nothing new.
  static ssize_t read_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* data_flags,
                           nghttp2_data_source* source, void* /*user_data*/) {
    auto& s = *static_cast<Http2Stream*>(source->ptr);
    const ssize_t n = read_http2_body(session, stream_id, buf, length, data_flags,
                                      {s.body_out, s.out_taken, s.out_done, s.trailers_out});
    if (n > 0) s.wake.cancel();  // room for more
    return n;
  }
};

Http2Connection::Http2Connection(Worker& worker, Stream& stream, ReadBuffer& buffer, Client client,
                                 std::weak_ptr<void> owner)
    : worker_(worker),
      stream_(stream),
      buffer_(buffer),
      client_(client),
      owner_(std::move(owner)),
      streams_done_(stream.get_executor(), SteadyTimer::time_point::max()) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, Http2Callbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, Http2Callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, Http2Callbacks::frame_received);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, Http2Callbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, Http2Callbacks::stream_closed);

  const config::Http2Settings& settings = worker_.runtime()->config->http2;
  nghttp2_option* options = nullptr;
  nghttp2_option_new(&options);
  nghttp2_option_set_no_auto_window_update(options, 1);
  // Resets are limited by max_resets_per_second below, with its own GOAWAY reason; nghttp2's
  // own limit is set above it so that it never fires first.
  nghttp2_option_set_stream_reset_rate_limit(options, 2ULL * settings.max_resets_per_second,
                                             2ULL * settings.max_resets_per_second);
  nghttp2_session_server_new2(&session_, callbacks, this, options);
  nghttp2_option_del(options);
  nghttp2_session_callbacks_del(callbacks);

  const auto max_header_bytes =
      static_cast<std::uint32_t>(worker_.runtime()->config->http.max_header_bytes);
  const nghttp2_settings_entry entries[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, max_header_bytes}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, entries, std::size(entries));
  // The connection's window: what all its streams together may send before sluice passed it on.
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  idle_deadline_ = worker_.services().clock.now() + worker_.runtime()->config->timeouts.client_idle;
}

Http2Connection::~Http2Connection() {
  nghttp2_session_del(session_);
}

Task<void> Http2Connection::run() {
  for (;;) {
    if (buffer_.size() > 0) {
      const auto* data = static_cast<const std::uint8_t*>(buffer_.data().data());
      const ssize_t used = nghttp2_session_mem_recv(session_, data, buffer_.size());
      buffer_.consume(buffer_.size());
      if (used < 0) {
        const bool flood =
            used == NGHTTP2_ERR_FLOODED || used == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
        go_away(flood ? GoawayReason::flood : GoawayReason::protocol,
                flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
      }
    }
    flush();
    if (closing_ || (nghttp2_session_want_read(session_) == 0 && streams_.empty())) break;
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadBlock), use_tuple);
    buffer_.commit(n);
    if (ec) break;
  }
  reading_done_ = true;
  buffer_.shrink_to_fit();
  if (!closing_) {
    // The client left: nobody reads what its streams would answer.
    for (auto& [id, s] : streams_) {
      s->closed = true;
      s->wake.cancel();
    }
  }
  // Streams in flight finish (a GOAWAY for shutdown lets them); then the last frames go out.
  while (open_streams() > 0 && stream_.socket().is_open()) {
    streams_done_.expires_at(SteadyTimer::time_point::max());
    co_await streams_done_.async_wait(use_tuple);
  }
  flush();
  while (writing_ && stream_.socket().is_open()) {
    streams_done_.expires_at(SteadyTimer::time_point::max());
    co_await streams_done_.async_wait(use_tuple);
  }
}

std::size_t Http2Connection::open_streams() const noexcept {
  return static_cast<std::size_t>(std::count_if(
      streams_.begin(), streams_.end(), [](const auto& entry) { return !entry.second->closed; }));
}

void Http2Connection::shut_down() {
  if (closing_) return;
  worker_.services().count_goaway(GoawayReason::shutdown);
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  closing_ = true;
  flush();
  // The read loop stops at once: no new stream can start after the GOAWAY.
  error_code ignored;
  stream_.socket().cancel(ignored);
}

void Http2Connection::go_away(GoawayReason why, std::uint32_t code) {
  if (closing_) return;
  closing_ = true;
  abandoned_ = true;
  if (writing_) {
    write_deadline_ = std::min(write_deadline_, worker_.services().clock.now() + kNanosPerSecond);
  }
  worker_.services().count_goaway(why);
  nghttp2_session_terminate_session(session_, code);
  // The offender's streams end with it: nothing more is read, nothing more is relayed.
  for (auto& [id, s] : streams_) {
    s->closed = true;
    s->wake.cancel();
  }
  flush();
}

void Http2Connection::check_deadline(Nanos now) {
  if (now >= write_deadline_) {
    write_deadline_ = Http2Stream::kNoDeadline;
    close_socket();
    return;
  }
  for (auto& [id, s] : streams_) {
    if (now < s->deadline) continue;
    s->deadline = Http2Stream::kNoDeadline;
    s->timed_out = true;
    s->wake.cancel();
    error_code ignored;
    if (s->upstream_socket != nullptr) s->upstream_socket->cancel(ignored);
  }
  if (streams_.empty() && !closing_ && now >= idle_deadline_) {
    go_away(GoawayReason::idle, NGHTTP2_NO_ERROR);
    error_code ignored;
    stream_.socket().cancel(ignored);
  }
}

void Http2Connection::flush() {
  if (writing_ || !stream_.socket().is_open()) return;
  if (nghttp2_session_want_write(session_) == 0) return;
  writing_ = true;
  auto owner = owner_.lock();
  asio::co_spawn(stream_.get_executor(), write_loop(), [owner](const std::exception_ptr&) {});
}

Task<void> Http2Connection::write_loop() {
  for (;;) {
    out_.clear();
    while (out_.size() < kWriteBatch) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (out_.empty()) break;
    // A client that does not read is not waited on for longer than a client may idle; one that
    // was sent away gets a second to read its GOAWAY.
    const Nanos now = worker_.services().clock.now();
    write_deadline_ =
        now + (abandoned_ ? kNanosPerSecond : worker_.runtime()->config->timeouts.client_idle);
    // Asynchronous even when the socket would take the batch at once (Stream::write_now): the
    // write's completion comes a scheduler round later, and the streams answered meanwhile join
    // the next batch. Written at once, each went out on its own, and a stream cost 12 000
    // instructions more (docs/BENCHMARKS.md).
    auto [ec, written] = co_await asio::async_write(stream_, asio::buffer(out_), use_tuple);
    write_deadline_ = Http2Stream::kNoDeadline;
    if (ec) {
      close_socket();
      break;
    }
  }
  writing_ = false;
  streams_done_.cancel();
  if (closing_ && streams_.empty() && reading_done_) close_socket();
}

void Http2Connection::close_socket() {
  error_code ignored;
  stream_.socket().cancel(ignored);
  for (auto& [id, s] : streams_) {
    s->closed = true;
    s->wake.cancel();
  }
  streams_done_.cancel();
  stream_.socket().shutdown(TcpSocket::shutdown_both, ignored);
}

int Http2Connection::on_begin_headers(std::int32_t stream_id) {
  auto s = std::make_shared<Http2Stream>(stream_id, stream_.get_executor());
  nghttp2_session_set_stream_user_data(session_, stream_id, s.get());
  streams_.emplace(stream_id, std::move(s));
  worker_.services().http2_streams.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

int Http2Connection::on_header(Http2Stream& s, std::string_view name, std::string_view value) {
  // nghttp2 bounds a header block by SETTINGS_MAX_HEADER_LIST_SIZE and its CONTINUATION frames
  // by count; a client that ignores the setting is cut off here, before it costs more.
  s.header_bytes += name.size() + value.size() + 32;
  if (s.header_bytes > worker_.runtime()->config->http.max_header_bytes * 2) {
    go_away(GoawayReason::flood, NGHTTP2_ENHANCE_YOUR_CALM);
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  if (s.head_done) {
    s.trailers_in.emplace_back(name, value);
  } else {
    s.add_header(name, value);
  }
  return 0;
}

int Http2Connection::on_request_head(Http2Stream& s) {
  s.head_done = true;
  idle_deadline_ = Http2Stream::kNoDeadline;
  auto owner = owner_.lock();
  asio::co_spawn(stream_.get_executor(), serve_stream(streams_.at(s.id)),
                 [owner, this](const std::exception_ptr& e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     worker_.services().log.message(observe::Level::error, "session_failed",
                                                    {{"error", ex.what()}});
                   }
                 });
  return 0;
}

int Http2Connection::on_data(Http2Stream& s, const std::uint8_t* data, std::size_t length) {
  if (s.closed || s.answered) {
    nghttp2_session_consume(session_, s.id, length);
    return 0;
  }
  s.body_bytes += length;
  if (s.body_bytes > worker_.runtime()->config->http.max_body_bytes) {
    // As HTTP/1.1's 413, as soon as the limit is passed: the stream ends, the connection stays.
    s.body_too_large = true;
    s.closed = true;
    s.wake.cancel();
    nghttp2_session_consume(session_, s.id, length);
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  s.body_in.append(reinterpret_cast<const char*>(data), length);
  s.wake.cancel();
  return 0;
}

void Http2Connection::on_request_end(Http2Stream& s) {
  s.request_complete = true;
  s.wake.cancel();
}

int Http2Connection::on_reset_received() {
  const Nanos now = worker_.services().clock.now();
  if (now - resets_window_start_ >= kNanosPerSecond) {
    resets_window_start_ = now;
    resets_in_window_ = 0;
  }
  if (++resets_in_window_ > worker_.runtime()->config->http2.max_resets_per_second) {
    go_away(GoawayReason::rapid_reset, NGHTTP2_ENHANCE_YOUR_CALM);
  }
  return 0;
}

void Http2Connection::on_stream_close(std::int32_t stream_id) {
  const auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  it->second->closed = true;
  it->second->wake.cancel();
  streams_.erase(it);
  if (streams_.empty()) {
    idle_deadline_ =
        worker_.services().clock.now() + worker_.runtime()->config->timeouts.client_idle;
    streams_done_.cancel();
  }
}

void Http2Connection::submit_response(Http2Stream& s, const ResponseHead& head, bool with_body) {
  const ResponseHeaders headers(head);
  nghttp2_data_provider provider{};
  provider.source.ptr = &s;
  provider.read_callback = Http2Callbacks::read_body;
  nghttp2_submit_response(session_, s.id, headers.nv.data(), headers.nv.size(),
                          with_body ? &provider : nullptr);
  flush();
}

}  // namespace sluice::proxy
