#include "sluice/proxy/http2_upstream.hpp"

#include "sluice/proxy/http2_body.hpp"

#include <nghttp2/nghttp2.h>

#include <boost/asio/write.hpp>
#include <cstring>

namespace sluice::proxy {
namespace {

constexpr std::size_t kWriteBatch = std::size_t{64} * 1024;
constexpr std::size_t kReadSize = std::size_t{16} * 1024;
// What an upstream may send on a stream before the client took any of it: the bound on a
// stream's buffered response, since window updates follow what the client took.
constexpr std::int32_t kStreamWindow = 256 * 1024;
constexpr std::int32_t kConnectionWindow = 4 * 1024 * 1024;  // shared by many exchanges

std::string_view as_view(const std::uint8_t* data, std::size_t length) {
  return {reinterpret_cast<const char*>(data), length};
}

void wake(UpstreamStream& s) {
  s.wake->cancel();
}

}  // namespace

void UpstreamStream::response_head(ResponseHead& head) const {
  head.status = status;
  for (const auto& [name, value] : headers) head.add(http::string_to_field(name), name, value);
}

struct Http2UpstreamCallbacks {
  static Http2Upstream& of(void* user_data) { return *static_cast<Http2Upstream*>(user_data); }
  static UpstreamStream* stream_of(nghttp2_session* session, std::int32_t id) {
    return static_cast<UpstreamStream*>(nghttp2_session_get_stream_user_data(session, id));
  }

  static int header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                    std::uint8_t /*flags*/, void* /*user_data*/) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    UpstreamStream* s = stream_of(session, frame->hd.stream_id);
    if (s == nullptr) return 0;
    const std::string_view n = as_view(name, name_length);
    const std::string_view v = as_view(value, value_length);
    if (frame->headers.cat == NGHTTP2_HCAT_HEADERS && s->head_received) {
      s->trailers.emplace_back(n, v);
    } else if (n == ":status") {
      s->status = 0;
      for (const char c : v) s->status = s->status * 10 + static_cast<unsigned>(c - '0');
    } else {
      s->headers.emplace_back(n, v);
    }
    return 0;
  }

  static int frame_received(nghttp2_session* session, const nghttp2_frame* frame,
                            void* /*user_data*/) {
    UpstreamStream* s = stream_of(session, frame->hd.stream_id);
    if (s == nullptr) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && !s->head_received) {
      if (s->status / 100 == 1) {
        s->headers.clear();  // an interim response: the real one follows
        return 0;
      }
      s->head_received = true;
      wake(*s);
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      s->ended = true;
      wake(*s);
    }
    return 0;
  }

  static int data_chunk(nghttp2_session* session, std::uint8_t /*flags*/, std::int32_t stream_id,
                        const std::uint8_t* data, std::size_t length, void* /*user_data*/) {
    UpstreamStream* s = stream_of(session, stream_id);
    if (s == nullptr) {
      nghttp2_session_consume(session, stream_id, length);
      return 0;
    }
    s->body.append(reinterpret_cast<const char*>(data), length);
    wake(*s);
    return 0;
  }

  // NOLINTNEXTLINE(bugprone-easily-swappable-parameters): nghttp2's callback signature
  static int stream_closed(nghttp2_session* session, std::int32_t stream_id,
                           std::uint32_t error_code, void* user_data) {
    UpstreamStream* s = stream_of(session, stream_id);
    of(user_data).streams_.erase(stream_id);
    if (s == nullptr) return 0;
    if (!s->ended) {
      s->failed = true;
      s->reset_code = error_code;
    }
    s->id = -1;
    wake(*s);
    return 0;
  }

  static ssize_t read_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* data_flags,
                           nghttp2_data_source* source, void* /*user_data*/) {
    auto& s = *static_cast<UpstreamStream*>(source->ptr);
    const ssize_t n =
        read_http2_body(session, stream_id, buf, length, data_flags,
                        {s.request_body, s.request_taken, s.request_complete, s.request_trailers});
    if (n > 0) wake(s);  // room for more
    return n;
  }
};

Http2Upstream::Http2Upstream(std::unique_ptr<UpstreamConnection> connection, std::string key)
    : connection_(std::move(connection)), key_(std::move(key)) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, Http2UpstreamCallbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
                                                       Http2UpstreamCallbacks::frame_received);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                            Http2UpstreamCallbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
                                                         Http2UpstreamCallbacks::stream_closed);
  nghttp2_option* options = nullptr;
  nghttp2_option_new(&options);
  nghttp2_option_set_no_auto_window_update(options, 1);
  nghttp2_session_client_new2(&session_, callbacks, this, options);
  nghttp2_option_del(options);
  nghttp2_session_callbacks_del(callbacks);
  const nghttp2_settings_entry entries[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, entries, std::size(entries));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
}

Http2Upstream::~Http2Upstream() {
  nghttp2_session_del(session_);
}

void Http2Upstream::start() {
  flush();
  asio::co_spawn(connection_->socket.get_executor(), read_loop(),
                 [self = shared_from_this()](const std::exception_ptr&) {});
}

bool Http2Upstream::idle() const noexcept {
  return streams_.empty();
}

bool Http2Upstream::usable() const noexcept {
  return !broken_ && nghttp2_session_want_read(session_) != 0 &&
         nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) >
             streams_.size();
}

bool Http2Upstream::submit(UpstreamStream& stream,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           bool with_body) {
  if (!usable()) return false;
  std::vector<nghttp2_nv> nv;
  nv.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    nv.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                  reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                  value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = &stream;
  provider.read_callback = Http2UpstreamCallbacks::read_body;
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                                                 with_body ? &provider : nullptr, &stream);
  if (id < 0) return false;
  stream.id = id;
  streams_.emplace(id, &stream);
  flush();
  return true;
}

void Http2Upstream::resume(UpstreamStream& stream) {
  if (stream.id < 0) return;
  nghttp2_session_resume_data(session_, stream.id);
  flush();
}

void Http2Upstream::consumed(UpstreamStream& stream, std::size_t n) {
  if (stream.id < 0) return;
  nghttp2_session_consume(session_, stream.id, n);
  flush();
}

void Http2Upstream::cancel(UpstreamStream& stream) {
  if (stream.id < 0) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, NGHTTP2_CANCEL);
  flush();
}

void Http2Upstream::release(UpstreamStream& stream) {
  if (stream.id < 0) return;
  // Still open (the exchange ended first): nothing more is read for it.
  nghttp2_session_set_stream_user_data(session_, stream.id, nullptr);
  streams_.erase(stream.id);
  stream.id = -1;
}

void Http2Upstream::close() {
  broken_ = true;
  error_code ignored;
  connection_->socket.shutdown(TcpSocket::shutdown_both, ignored);
  connection_->socket.close(ignored);
}

Task<void> Http2Upstream::read_loop() {
  auto& buffer = connection_->buffer;
  for (;;) {
    auto [ec, n] =
        co_await connection_->stream.async_read_some(buffer.prepare(kReadSize), use_tuple);
    buffer.commit(n);
    if (ec) break;
    const ssize_t used = nghttp2_session_mem_recv(
        session_, static_cast<const std::uint8_t*>(buffer.data().data()), buffer.size());
    buffer.consume(buffer.size());
    if (used < 0) break;
    flush();
    if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
      break;
    }
  }
  broken_ = true;
  fail_all();
}

void Http2Upstream::fail_all() {
  const auto streams = std::exchange(streams_, {});
  for (const auto& [id, s] : streams) {
    nghttp2_session_set_stream_user_data(session_, id, nullptr);
    if (!s->ended) s->failed = true;
    s->id = -1;
    wake(*s);
  }
}

void Http2Upstream::flush() {
  if (writing_ || broken_ || nghttp2_session_want_write(session_) == 0) return;
  writing_ = true;
  asio::co_spawn(connection_->socket.get_executor(), write_loop(),
                 [self = shared_from_this()](const std::exception_ptr&) {});
}

Task<void> Http2Upstream::write_loop() {
  for (;;) {
    out_.clear();
    while (out_.size() < kWriteBatch) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (out_.empty()) break;
    auto [ec, written] =
        co_await asio::async_write(connection_->stream, asio::buffer(out_), use_tuple);
    if (ec) {
      broken_ = true;
      close();
      break;
    }
  }
  writing_ = false;
}

Task<std::shared_ptr<Http2Upstream>> Http2Upstreams::acquire(
    const config::UpstreamTarget& target, const std::shared_ptr<ssl::context>& tls,
    Nanos connect_timeout, UpstreamPool::Failure& failure) {
  auto& list = connections_[target.url];
  std::erase_if(list, [](const auto& c) { return !c->usable() && c->idle(); });
  for (const auto& c : list) {
    if (c->usable()) co_return c;
  }
  auto connection = co_await pool_.acquire(target, tls, connect_timeout, UpstreamPool::Reuse::never,
                                           failure, UpstreamPool::Alpn::h2);
  if (!connection) co_return nullptr;
  auto upstream = std::make_shared<Http2Upstream>(std::move(connection), target.url);
  upstream->start();
  // Looked up again: the connect suspended this coroutine, and others may have changed the list.
  connections_[target.url].push_back(upstream);
  co_return upstream;
}

void Http2Upstreams::close_all() {
  for (auto& [url, list] : connections_) {
    for (auto& c : list) c->close();
  }
  connections_.clear();
}

}  // namespace sluice::proxy
