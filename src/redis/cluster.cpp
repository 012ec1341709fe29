#include "sluice/redis/cluster.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>

#include "sluice/redis/decide_batcher.hpp"

namespace sluice::redis {
namespace {

// A slot map changes by resharding and failover, both of which also answer MOVED at once; the
// periodic refresh catches masters that appeared, or slots that no request has touched since.
constexpr auto kRefreshInterval = std::chrono::seconds(5);
// Until the first map is learned, and while a master is unreachable, sooner: a replica's
// promotion shows in the map within this of the cluster's own failover.
constexpr auto kDegradedRefreshInterval = std::chrono::milliseconds(500);
constexpr Nanos kFirstBackoff = 100 * kNanosPerMilli;
constexpr Nanos kLastBackoff = 5 * kNanosPerSecond;
// Redirections one command follows: a slot moves once per resharding step, so more than a few in
// a row means a map in flux, and on_error decides this request.
constexpr int kMaxRedirects = 5;
// A multi-key command in a slot half migrated answers TRYAGAIN: the migration moves on meanwhile.
constexpr auto kTryAgainDelay = std::chrono::milliseconds(10);

// A cluster node is spoken to with the redis: block's credentials and TLS, without a database.
config::RedisConfig node_config(const config::RedisConfig& base, const config::RedisNode& at) {
  config::RedisConfig c = base;
  c.host = at.host;
  c.port = at.port;
  c.db = 0;
  c.cluster.clear();
  return c;
}

}  // namespace

struct Cluster::Node {
  enum class State { connecting, up, down };
  Node(const Executor& executor, const config::RedisConfig& base, const config::RedisNode& at,
       std::shared_ptr<asio::ssl::context> tls, Health& health, const Clock& clock)
      : address(at.to_string()),
        config(node_config(base, at)),
        connection(executor, config, std::move(tls)),
        batcher(executor, connection, health, clock) {}

  std::string address;
  config::RedisConfig config;
  Connection connection;
  DecideBatcher batcher;
  State state = State::connecting;
  bool probing = false;
  bool retired = false;  // no longer a master of the map: its probe stops
};

Cluster::Cluster(Executor executor, const config::RedisConfig& config,
                 std::shared_ptr<asio::ssl::context> tls, Health& health, const Clock& clock)
    : executor_(std::move(executor)),
      config_(config),
      tls_(std::move(tls)),
      health_(health),
      clock_(clock),
      alive_(std::make_shared<bool>(true)) {}

Cluster::~Cluster() {
  *alive_ = false;
}

void Cluster::start() {
  refresh_soon();
  asio::co_spawn(executor_, refresh_loop(), asio::detached);
}

Cluster::NodePtr Cluster::owner(Slot slot) const {
  const config::RedisNode* master = map_.master_of(slot);
  if (master == nullptr) return nullptr;
  const auto it = nodes_.find(master->to_string());
  return it == nodes_.end() ? nullptr : it->second;
}

bool Cluster::usable(Slot slot) const {
  const NodePtr node = owner(slot);
  return node && node->state == Node::State::up;
}

Task<Result> Cluster::decide(Slot slot, DecideCall call) {
  const auto build = [&](bool by_body) {
    return decide_command(decide_script(), by_body, std::span(&call, 1));
  };
  co_return co_await run(slot, build, &call);
}

Task<Result> Cluster::script(Slot slot, const Script& script, std::vector<std::string> keys,
                             std::vector<std::string> args) {
  const auto build = [&](bool by_body) { return script_command(script, by_body, keys, args); };
  co_return co_await run(slot, build, nullptr);
}

Task<Result> Cluster::run(Slot slot, const Build& build, const DecideCall* batched) {
  const auto alive = alive_;
  std::optional<config::RedisNode> asking;  // ASK: this command only, on that node
  for (int hop = 0;; ++hop) {
    const NodePtr node = asking ? node_of(*asking) : owner(slot);
    if (!node || node->state != Node::State::up) {
      co_return Result{Result::Status::error,
                       {},
                       "the master of slot " + std::to_string(slot) +
                           (node ? " (" + node->address + ") is unreachable" : " is unknown")};
    }
    Result r;
    if (batched != nullptr && !asking) {
      r = co_await node->batcher.decide(*batched, slot);
    } else {
      r = co_await call(*node, asking.has_value(), build, batched != nullptr);
    }
    if (!*alive) co_return r;
    if (!r.ok()) {
      node_down(*node, r.problem);
      co_return r;
    }
    if (hop == kMaxRedirects) co_return r;
    if (const auto redirect = parse_redirect(r.reply)) {
      if (redirect->kind == Redirect::Kind::moved) {
        learn(redirect->slot, redirect->node);
        refresh_soon();
        asking.reset();
      } else {
        asking = redirect->node;
      }
      continue;
    }
    if (r.reply.is_error() && r.reply.text.starts_with("TRYAGAIN")) {
      SteadyTimer pause(executor_, kTryAgainDelay);
      co_await pause.async_wait(use_tuple);
      if (!*alive) co_return r;
      continue;
    }
    if (r.reply.is_error() && r.reply.text.starts_with("CLUSTERDOWN")) refresh_soon();
    co_return r;
  }
}

// A command outside the batcher: a refund, a quota, or a decide call sent after ASKING.
Task<Result> Cluster::call(Node& node, bool asking, const Build& build, bool one_decide) {
  const auto alive = alive_;
  const Nanos started = clock_.now();
  auto send = [&](bool by_body) {
    return asking ? node.connection.call_asking(build(by_body))
                  : node.connection.call(build(by_body));
  };
  Result r = co_await send(false);
  if (*alive && r.ok() && is_noscript(r.reply)) {
    r = co_await send(true);
  }
  if (!*alive) co_return r;
  count_command(health_, r);
  if (one_decide) {
    health_.latency.observe(static_cast<double>(clock_.now() - started) / kNanosPerSecond);
    health_.batch_size.observe(1);
    std::string why;
    if (r.ok() && !r.reply.is_error()) {
      if (is_decide_batch(r.reply, 1, why)) {
        r.reply = Reply(std::move(r.reply.elements[0]));
      } else {
        r = Result{Result::Status::error, {}, why};
      }
    }
  }
  co_return r;
}

Cluster::NodePtr Cluster::node_of(const config::RedisNode& address) {
  const std::string name = address.to_string();
  if (const auto it = nodes_.find(name); it != nodes_.end()) return it->second;
  auto node = std::make_shared<Node>(executor_, config_, address, tls_, health_, clock_);
  node->connection.on_lost([this, alive = alive_, n = node.get()](const std::string& reason) {
    if (*alive) node_down(*n, reason);
  });
  nodes_.emplace(name, node);
  asio::co_spawn(executor_, connect(node), asio::detached);
  return node;
}

void Cluster::learn(Slot slot, const config::RedisNode& master) {
  auto at = std::find(map_.masters.begin(), map_.masters.end(), master);
  if (at == map_.masters.end()) at = map_.masters.insert(map_.masters.end(), master);
  map_.owner[slot] = static_cast<std::uint16_t>(at - map_.masters.begin());
  node_of(master);
}

Task<void> Cluster::connect(NodePtr node) {
  const auto alive = alive_;
  const std::string why = co_await node->connection.open();
  if (!*alive || node->retired) co_return;
  if (why.empty()) {
    node->state = Node::State::up;
    report({});
  } else {
    node_down(*node, why);
  }
}

void Cluster::node_down(Node& node, const std::string& reason) {
  if (node.state == Node::State::down) return;
  node.state = Node::State::down;
  node.connection.fail(reason);
  report(node.address + ": " + reason);
  // The master may have failed over: its replica's promotion shows in the map.
  refresh_soon();
  if (node.probing || node.retired) return;
  if (const auto it = nodes_.find(node.address); it != nodes_.end()) {
    asio::co_spawn(executor_, probe(it->second), asio::detached);
  }
}

// Until the node answers PING on a fresh connection, backing off from 100 ms to 5 s, or until
// the map no longer names it a master.
Task<void> Cluster::probe(NodePtr node) {
  const auto alive = alive_;
  node->probing = true;
  Nanos backoff = kFirstBackoff;
  SteadyTimer timer(executor_);
  while (!node->retired) {
    timer.expires_after(std::chrono::nanoseconds(backoff));
    co_await timer.async_wait(use_tuple);
    if (!*alive) co_return;
    if (node->retired) break;
    std::string why = co_await node->connection.open();
    if (!*alive) co_return;
    if (why.empty()) {
      std::vector<std::string> ping{"PING"};
      const Result r = co_await node->connection.call(std::move(ping));
      if (!*alive) co_return;
      if (r.ok() && r.reply.is_status("PONG")) {
        health_.commands_ok.fetch_add(1, std::memory_order_relaxed);
        node->state = Node::State::up;
        report({});
        break;
      }
      why = r.ok() ? "unexpected answer to PING: " + r.reply.text : r.problem;
      node->connection.fail(why);
    }
    health_.commands_error.fetch_add(1, std::memory_order_relaxed);
    backoff = std::min(backoff * 2, kLastBackoff);
  }
  node->probing = false;
}

void Cluster::refresh_soon() {
  if (refreshing_) {
    refresh_again_ = true;
    return;
  }
  asio::co_spawn(executor_, refresh(), asio::detached);
}

Task<void> Cluster::refresh() {
  const auto alive = alive_;
  refreshing_ = true;
  do {
    refresh_again_ = false;
    std::string problems;
    bool learned = false;
    // The masters it reaches first (their connections are open), then the seeds.
    std::vector<NodePtr> masters;
    for (const auto& [name, node] : nodes_) {
      if (node->state == Node::State::up) masters.push_back(node);
    }
    for (const NodePtr& node : masters) {
      std::vector<std::string> ask{"CLUSTER", "SLOTS"};
      const Result r = co_await node->connection.call(std::move(ask));
      if (!*alive) co_return;
      std::string why = r.problem;
      if (r.ok()) {
        if (auto map = parse_cluster_slots(r.reply, {node->config.host, node->config.port}, why)) {
          apply(std::move(*map));
          learned = true;
          break;
        }
      }
      problems += (problems.empty() ? "" : "; ") + node->address + ": " + why;
    }
    for (std::size_t i = 0; !learned && i < config_.cluster.size(); ++i) {
      const config::RedisNode& seed = config_.cluster[i];
      const config::RedisConfig seed_config = node_config(config_, seed);
      Connection connection(executor_, seed_config, tls_);
      std::string why = co_await connection.open();
      if (!*alive) co_return;
      if (why.empty()) {
        std::vector<std::string> ask{"CLUSTER", "SLOTS"};
        const Result r = co_await connection.call(std::move(ask));
        if (!*alive) co_return;
        why = r.problem;
        if (r.ok()) {
          if (auto map = parse_cluster_slots(r.reply, seed, why)) {
            apply(std::move(*map));
            learned = true;
          }
        }
      }
      if (!learned) problems += (problems.empty() ? "" : "; ") + seed.to_string() + ": " + why;
    }
    if (!learned) report("no cluster node gave the slot map (" + problems + ")");
  } while (refresh_again_);
  refreshing_ = false;
}

Task<void> Cluster::refresh_loop() {
  const auto alive = alive_;
  SteadyTimer timer(executor_);
  for (;;) {
    if (reported_ == Reported::up) {
      timer.expires_after(kRefreshInterval);
    } else {
      timer.expires_after(kDegradedRefreshInterval);
    }
    co_await timer.async_wait(use_tuple);
    if (!*alive) co_return;
    refresh_soon();
  }
}

void Cluster::apply(SlotMap map) {
  // A slot whose master could not be reached and now has another: a failover followed.
  std::set<std::pair<std::string, std::string>> replaced;
  if (map_known_) {
    for (std::size_t slot = 0; slot < kClusterSlots; ++slot) {
      const config::RedisNode* before = map_.master_of(static_cast<Slot>(slot));
      const config::RedisNode* after = map.master_of(static_cast<Slot>(slot));
      if (before == nullptr || after == nullptr || *before == *after) continue;
      const auto node = nodes_.find(before->to_string());
      if (node == nodes_.end() || node->second->state != Node::State::up) {
        replaced.emplace(before->to_string(), after->to_string());
      }
    }
  }
  for (const auto& [from, to] : replaced) health_.master_replaced(from, to);
  map_ = std::move(map);
  map_known_ = true;
  std::erase_if(nodes_, [&](const auto& entry) {
    const bool master = std::any_of(map_.masters.begin(), map_.masters.end(),
                                    [&](const auto& m) { return m.to_string() == entry.first; });
    if (!master) entry.second->retired = true;
    return !master;
  });
  for (const config::RedisNode& master : map_.masters) node_of(master);
  report("a master of the cluster is unreachable");
}

void Cluster::report(const std::string& reason) {
  const bool all_up =
      map_known_ && std::all_of(map_.masters.begin(), map_.masters.end(), [&](const auto& m) {
        const auto it = nodes_.find(m.to_string());
        return it != nodes_.end() && it->second->state == Node::State::up;
      });
  if (all_up && reported_ != Reported::up) {
    reported_ = Reported::up;
    health_.worker_up();
  } else if (!all_up && !reason.empty() && reported_ != Reported::down) {
    const bool was_up = reported_ == Reported::up;
    // Masters still connecting are not an outage.
    const bool connecting =
        map_known_ && std::all_of(map_.masters.begin(), map_.masters.end(), [&](const auto& m) {
          const auto it = nodes_.find(m.to_string());
          return it != nodes_.end() && it->second->state != Node::State::down;
        });
    if (connecting) return;
    reported_ = Reported::down;
    health_.worker_down(reason, was_up);
  }
}

}  // namespace sluice::redis
