#pragma once
// Redis Sentinel from a worker's side (README, "Scaling out"): where the master is, asked of the
// sentinels in turn, and when it moves, from the +switch-master event one of them publishes.
// Used from its worker's thread only.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include "sluice/core/event_loop.hpp"

#include "sluice/config/config.hpp"

namespace sluice::redis {

namespace asio = boost::asio;

class Sentinels {
 public:
  using Address = config::RedisSentinel::Address;

  // `redis`: the redis: block (its sentinel part, timeout and TLS settings); `tls` as for the
  // master's connection.
  Sentinels(Executor executor, const config::RedisConfig& redis,
            std::shared_ptr<asio::ssl::context> tls);
  ~Sentinels();
  Sentinels(const Sentinels&) = delete;
  Sentinels& operator=(const Sentinels&) = delete;

  // The master's address as the first sentinel that answers knows it; on failure, why not.
  struct Located {
    Address master;
    std::string problem;  // empty: found
    static Located failure(std::string why) {
      Located l;
      l.problem = std::move(why);
      return l;
    }
  };
  Task<Located> locate();

  // Subscribes to +switch-master on one sentinel, moving to the next when it is lost, until
  // destruction: `on_switch` gets the new address of this master at each failover.
  void watch(std::function<void(const Address&)> on_switch);

 private:
  Task<void> watch_loop(std::function<void(const Address&)> on_switch);
  [[nodiscard]] config::RedisConfig sentinel_config(const Address& address) const;

  Executor executor_;
  const config::RedisConfig& redis_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::size_t next_ = 0;  // the sentinel to ask first: the last that answered
  std::shared_ptr<bool> alive_;
};

}  // namespace sluice::redis
