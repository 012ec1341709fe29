#pragma once
// Redis Cluster from a worker's side (README, "Scaling out"): the slot map, learned from the seed
// nodes and refreshed on MOVED and every few seconds; a pipelined connection, a batcher and a
// circuit per master, so that a master that is down sends only its own slots' decisions to
// redis.on_error; MOVED and ASK followed. Used from its worker's thread only.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>
#include "sluice/core/event_loop.hpp"

#include "sluice/config/config.hpp"
#include "sluice/core/clock.hpp"
#include "sluice/redis/cluster_slots.hpp"
#include "sluice/redis/connection.hpp"
#include "sluice/redis/health.hpp"
#include "sluice/redis/scripts.hpp"

namespace sluice::redis {

class Cluster {
 public:
  // `config`: the redis: block (seeds, credentials, timeout, TLS); `tls` its client context.
  Cluster(Executor executor, const config::RedisConfig& config,
          std::shared_ptr<asio::ssl::context> tls, Health& health, const Clock& clock);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Learns the slot map, connects to its masters and keeps the map fresh until destruction.
  void start();
  // The slot's master is known and reachable: else decisions on it go to on_error at once.
  [[nodiscard]] bool usable(Slot slot) const;
  // One request's reply to the decide script on the slot's master (batched with the slot's other
  // requests), or why there is none. `call` holds keys of this slot only.
  Task<Result> decide(Slot slot, DecideCall call);
  // Any other script (a refund, a quota) for keys of one slot.
  Task<Result> script(Slot slot, const Script& script, std::vector<std::string> keys,
                      std::vector<std::string> args);

 private:
  struct Node;
  using NodePtr = std::shared_ptr<Node>;
  // Makes the command to send: EVALSHA, or EVAL with the body after a NOSCRIPT.
  using Build = std::function<std::vector<std::string>(bool by_body)>;
  // Sends what `build` makes to the slot's master, following redirections; `batched`: a decide
  // call, which goes through the master's batcher unless a redirection says ASK.
  Task<Result> run(Slot slot, const Build& build, const DecideCall* batched);
  Task<Result> call(Node& node, bool asking, const Build& build, bool one_decide);
  // The master of `address`, connecting to it when it is new.
  NodePtr node_of(const config::RedisNode& address);
  [[nodiscard]] NodePtr owner(Slot slot) const;
  // MOVED: the slot is served by `master` from now on.
  void learn(Slot slot, const config::RedisNode& master);
  Task<void> connect(NodePtr node);
  void node_down(Node& node, const std::string& reason);
  Task<void> probe(NodePtr node);
  // Asks the masters it knows, then the seeds, for the slot map; one refresh at a time.
  void refresh_soon();
  Task<void> refresh();
  Task<void> refresh_loop();
  void apply(SlotMap map);
  // Tells Health whether every master of the map is reachable, on a change.
  void report(const std::string& reason);

  Executor executor_;
  const config::RedisConfig& config_;
  std::shared_ptr<asio::ssl::context> tls_;
  Health& health_;
  const Clock& clock_;
  SlotMap map_;
  bool map_known_ = false;
  std::unordered_map<std::string, NodePtr> nodes_;  // by "host:port": the masters of the map
  bool refreshing_ = false;
  bool refresh_again_ = false;  // asked for while a refresh ran
  enum class Reported { nothing, up, down };
  Reported reported_ = Reported::nothing;
  std::shared_ptr<bool> alive_;  // spawned coroutines check it before touching this object
};

}  // namespace sluice::redis
