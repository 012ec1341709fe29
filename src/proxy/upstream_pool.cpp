#include "sluice/proxy/upstream_pool.hpp"

namespace sluice::proxy {
namespace {

std::string key_of(const config::UpstreamTarget& t) {
  return t.host + ":" + std::to_string(t.port);
}

}  // namespace

UpstreamConnection::UpstreamConnection(beast::tcp_stream s, std::string key, observe::Gauge& gauge)
    : stream(std::move(s)), pool_key(std::move(key)), gauge_(gauge) {
  gauge_.fetch_add(1, std::memory_order_relaxed);
}

UpstreamConnection::~UpstreamConnection() {
  gauge_.fetch_sub(1, std::memory_order_relaxed);
}

asio::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::acquire(
    const config::UpstreamTarget& target, Nanos connect_timeout, bool fresh, error_code& ec) {
  ec = {};
  const std::string key = key_of(target);
  if (!fresh) {
    auto& idle = idle_[key];
    const Nanos now = clock_.now();
    while (!idle.empty()) {
      auto conn = std::move(idle.back());
      idle.pop_back();
      error_code ignored;
      conn->stream.socket().cancel(ignored);  // ends the watch set up by release()
      if (now - conn->idle_since < kMaxIdle) {
        conn->reused = true;
        co_return conn;
      }
    }
  }

  beast::tcp_stream stream(executor_);
  stream.expires_after(to_duration(connect_timeout));
  error_code addr_ec;
  const auto address = asio::ip::make_address(target.host, addr_ec);
  if (!addr_ec) {
    auto [connect_ec] =
        co_await stream.async_connect(tcp::endpoint(address, target.port), use_tuple);
    ec = connect_ec;
  } else {
    tcp::resolver resolver(executor_);
    auto [resolve_ec, endpoints] =
        co_await resolver.async_resolve(target.host, std::to_string(target.port), use_tuple);
    if (resolve_ec) {
      ec = resolve_ec;
      co_return nullptr;
    }
    auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, use_tuple);
    ec = connect_ec;
  }
  if (ec) co_return nullptr;
  stream.socket().set_option(tcp::no_delay(true), addr_ec);
  co_return std::make_unique<UpstreamConnection>(std::move(stream), key, connections_);
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> connection) {
  auto& idle = idle_[connection->pool_key];
  if (idle.size() >= kMaxIdlePerUpstream) return;  // closes it
  connection->idle_since = clock_.now();
  connection->buffer.clear();
  connection->stream.expires_never();
  // An idle keep-alive connection has nothing to say: if it becomes readable, the upstream closed
  // it (or broke protocol), and it is dropped before it can carry a request. Watching costs no
  // system call, unlike asking the socket at every reuse.
  UpstreamConnection* watched = connection.get();
  const std::string key = connection->pool_key;
  connection->stream.socket().async_wait(
      tcp::socket::wait_read, [this, watched, key](const error_code& ec) {
        if (ec) return;  // cancelled by acquire() or by closing: `watched` may be gone
        auto& list = idle_[key];
        std::erase_if(list, [watched](const auto& c) { return c.get() == watched; });
      });
  idle.push_back(std::move(connection));
}

void UpstreamPool::close_idle() {
  idle_.clear();
}

}  // namespace sluice::proxy
