#pragma once
// One multiplexed HTTP/2 connection to an upstream (h2c by prior knowledge over http://), shared
// by the exchanges of one worker: many streams on one connection, as many as the upstream's
// SETTINGS_MAX_CONCURRENT_STREAMS allows; a new connection only when it is full or broken.
// libnghttp2 frames; this class drives it from Asio.

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sluice/proxy/beast.hpp"
#include "sluice/proxy/response_head.hpp"
#include "sluice/proxy/upstream_pool.hpp"

struct nghttp2_session;

namespace sluice::proxy {

// One request on an upstream HTTP/2 connection, as the exchange that sent it sees it. The
// connection fills in the response; the exchange moves bodies in both directions and waits on
// its own timer, which the connection cancels whenever something here changes.
struct UpstreamStream {
  explicit UpstreamStream(SteadyTimer& wake) : wake(&wake) {}

  // The response head received, as views into this stream.
  void response_head(ResponseHead& head) const;

  std::int32_t id = -1;
  SteadyTimer* wake;  // the exchange's: cancelled on every change
  // The request body on its way up: the exchange appends, nghttp2 takes from `body_taken`.
  std::string request_body;
  std::size_t request_taken = 0;
  bool request_complete = false;
  std::vector<std::pair<std::string, std::string>> request_trailers;  // sent after the body
  // The response as it comes.
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> trailers;
  bool head_received = false;
  std::string body;  // received, not yet handed on
  bool ended = false;
  bool failed = false;  // reset by the upstream, or the connection broke
  std::uint32_t reset_code = 0;
};

class Http2Upstream : public std::enable_shared_from_this<Http2Upstream> {
 public:
  Http2Upstream(std::unique_ptr<UpstreamConnection> connection, std::string key);
  ~Http2Upstream();
  Http2Upstream(const Http2Upstream&) = delete;
  Http2Upstream& operator=(const Http2Upstream&) = delete;

  // Sends the preface and starts reading.
  void start();
  [[nodiscard]] bool usable() const noexcept;
  [[nodiscard]] bool idle() const noexcept;
  [[nodiscard]] const std::string& key() const noexcept { return key_; }

  // Opens a stream for `headers` (pseudo-headers first); its body follows through `stream`.
  // False when the connection cannot take one more.
  bool submit(UpstreamStream& stream,
              const std::vector<std::pair<std::string, std::string>>& headers, bool with_body);
  // The request body gained bytes or its end: nghttp2 is told to send again.
  void resume(UpstreamStream& stream);
  // The exchange handed on `n` bytes of the response body: the upstream may send that many more.
  void consumed(UpstreamStream& stream, std::size_t n);
  // The exchange gives up on the stream (its client left, a deadline): RST_STREAM CANCEL.
  void cancel(UpstreamStream& stream);
  // The stream's exchange is over: the connection forgets it.
  void release(UpstreamStream& stream);
  void close();

 private:
  friend struct Http2UpstreamCallbacks;

  Task<void> read_loop();
  void flush();
  Task<void> write_loop();
  void fail_all();

  std::unique_ptr<UpstreamConnection> connection_;
  std::string key_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, UpstreamStream*> streams_;
  std::string out_;
  bool writing_ = false;
  bool broken_ = false;
};

// A worker's HTTP/2 upstream connections, by upstream: the first with room for one more stream
// is used; a new one is opened when none has.
class Http2Upstreams {
 public:
  explicit Http2Upstreams(UpstreamPool& pool) : pool_(pool) {}
  // `tls`: the context of an https:// upstream (ALPN h2 is required of it), else null.
  Task<std::shared_ptr<Http2Upstream>> acquire(const config::UpstreamTarget& target,
                                               const std::shared_ptr<ssl::context>& tls,
                                               Nanos connect_timeout,
                                               UpstreamPool::Failure& failure);
  void close_all();

 private:
  UpstreamPool& pool_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Http2Upstream>>> connections_;
};

}  // namespace sluice::proxy
