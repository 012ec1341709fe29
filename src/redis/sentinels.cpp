#include "sluice/redis/sentinels.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <sstream>

#include "sluice/redis/connection.hpp"

namespace sluice::redis {
namespace {

// How long a watch waits before subscribing again when every sentinel was unreachable.
constexpr auto kWatchRetry = std::chrono::seconds(1);
constexpr std::string_view kSwitchChannel = "+switch-master";

std::optional<std::uint16_t> port_of(std::string_view text) {
  std::uint16_t port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port == 0) return std::nullopt;
  return port;
}

}  // namespace

Sentinels::Sentinels(Executor executor, const config::RedisConfig& redis,
                     std::shared_ptr<asio::ssl::context> tls)
    : executor_(std::move(executor)),
      redis_(redis),
      tls_(std::move(tls)),
      alive_(std::make_shared<bool>(true)) {}

Sentinels::~Sentinels() {
  *alive_ = false;
}

// A sentinel is spoken to like Redis, with its own password and without a database.
config::RedisConfig Sentinels::sentinel_config(const Address& address) const {
  config::RedisConfig c;
  c.host = address.host;
  c.port = address.port;
  c.password = redis_.sentinel->password;
  c.timeout = redis_.timeout;
  c.tls = redis_.tls;
  return c;
}

Task<Sentinels::Located> Sentinels::locate() {
  const auto alive = alive_;
  const auto& sentinels = redis_.sentinel->addresses;
  std::string problems;
  for (std::size_t i = 0; i < sentinels.size(); ++i) {
    const std::size_t at = (next_ + i) % sentinels.size();
    const config::RedisConfig config = sentinel_config(sentinels[at]);
    Connection connection(executor_, config, tls_);
    std::string problem = co_await connection.open();
    if (!*alive) co_return Located::failure("stopped");
    if (problem.empty()) {
      // A named vector: gcc 12 cannot build a braced list of literals inside a co_await.
      std::vector<std::string> ask{"SENTINEL", "get-master-addr-by-name", redis_.sentinel->master};
      const Result r = co_await connection.call(std::move(ask));
      if (!*alive) co_return Located::failure("stopped");
      const auto& e = r.reply.elements;
      if (r.ok() && r.reply.type == Reply::Type::array && e.size() == 2) {
        if (const auto port = port_of(e[1].text); port && !e[0].text.empty()) {
          next_ = at;
          co_return Located{{e[0].text, *port}, std::string()};
        }
      }
      problem = !r.ok()              ? r.problem
                : r.reply.is_error() ? r.reply.text
                : r.reply.type == Reply::Type::nil
                    ? "does not know master " + redis_.sentinel->master
                    : "unexpected answer";
    }
    problems += (problems.empty() ? "" : "; ") + sentinels[at].to_string() + ": " + problem;
  }
  co_return Located::failure("no sentinel named the master: " + problems);
}

void Sentinels::watch(std::function<void(const Address&)> on_switch) {
  asio::co_spawn(executor_, watch_loop(std::move(on_switch)), asio::detached);
}

Task<void> Sentinels::watch_loop(std::function<void(const Address&)> on_switch) {
  const auto alive = alive_;
  const std::vector<Address> sentinels = redis_.sentinel->addresses;
  const std::string master = redis_.sentinel->master;
  SteadyTimer wait(executor_);
  for (std::size_t at = next_;; at = (at + 1) % sentinels.size()) {
    const config::RedisConfig config = sentinel_config(sentinels[at]);
    Connection connection(executor_, config, tls_);
    // "<name> <old ip> <old port> <new ip> <new port>", published for every monitored master.
    connection.on_push([&](Reply message) {
      if (message.type != Reply::Type::array || message.elements.size() != 3 ||
          message.elements[1].text != kSwitchChannel) {
        return;
      }
      std::istringstream words(message.elements[2].text);
      std::string name, old_host, old_port, host, port;
      words >> name >> old_host >> old_port >> host >> port;
      if (name != master) return;
      if (const auto p = port_of(port)) on_switch({host, *p});
    });
    connection.on_lost([&](const std::string&) { wait.cancel(); });
    bool subscribed = false;
    if ((co_await connection.open()).empty() && *alive) {
      std::vector<std::string> subscribe{"SUBSCRIBE", std::string(kSwitchChannel)};
      const Result r = co_await connection.call(std::move(subscribe));
      subscribed = r.ok() && r.reply.type == Reply::Type::array;
    }
    if (!*alive) co_return;
    // Subscribed: until the connection is lost. Not: a pause before the next sentinel, long
    // only after a whole round of them failed.
    wait.expires_after(subscribed                             ? std::chrono::hours(24 * 365)
                       : (at + 1) % sentinels.size() == next_ ? kWatchRetry
                                                              : std::chrono::milliseconds(0));
    co_await wait.async_wait(use_tuple);
    if (!*alive) co_return;
    connection.on_lost(nullptr);
    connection.on_push(nullptr);
  }
}

}  // namespace sluice::redis
