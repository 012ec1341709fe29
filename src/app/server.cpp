#include "sluice/app/server.hpp"

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>
#include <fstream>

#include "sluice/app/state_file.hpp"
#include "sluice/config/load.hpp"
#include "sluice/limit/overrides.hpp"

namespace sluice::app {
namespace {

using proxy::asio::ip::tcp;

std::int64_t open_fds() {
  std::int64_t n = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(dir)) n += e->d_name[0] != '.';
    ::closedir(dir);
    --n;  // the directory stream itself
  }
  return n;
}

std::int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t pages = 0;
  std::int64_t resident = 0;
  statm >> pages >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += (out.empty() ? "" : "\n") + line;
  return out;
}

// The most any local bucket of `config` can hold: a limit's time_period, plus the max_delay of
// a delaying route. A restored bucket never holds more.
Nanos largest_backlog(const config::Config& config) {
  Nanos largest = 0;
  for (const config::Route& route : config.routes) {
    const limit::RoutePolicy& policy = route.policy;
    const Nanos queue = policy.action == limit::Action::delay ? policy.max_delay : 0;
    for (const limit::LimitPolicy& limit : policy.limits) {
      largest = std::max(largest, limit.rate.tau() + queue);
      if (!limit.overrides) continue;
      // An override may change the period and the route's queue for its keys.
      for (const limit::Override& o : limit.overrides->list) {
        const Nanos its_queue = o.action.value_or(policy.action) == limit::Action::delay
                                    ? o.max_delay.value_or(policy.max_delay)
                                    : 0;
        largest = std::max(largest, o.limit.rate.tau() + std::max(queue, its_queue));
      }
    }
  }
  return largest;
}

}  // namespace

std::vector<std::string> watched_files(const config::Config& config) {
  std::vector<std::string> files{config.source};
  if (config.tls) {
    for (const std::string* file : {&config.tls->cert, &config.tls->key, &config.tls->client_ca}) {
      if (!file->empty()) files.push_back(*file);
    }
  }
  auto add_ca = [&](const std::optional<config::UpstreamTarget>& target) {
    if (target && target->tls && !target->tls->ca.empty() &&
        std::find(files.begin(), files.end(), target->tls->ca) == files.end()) {
      files.push_back(target->tls->ca);
    }
  };
  add_ca(config.upstream);
  for (const config::Route& route : config.routes) {
    add_ca(route.upstream);
    for (const limit::LimitPolicy& limit : route.policy.limits) {
      if (limit.overrides) {
        files.insert(files.end(), limit.overrides->files.begin(), limit.overrides->files.end());
      }
    }
  }
  return files;
}

void Server::warn_if_insecure(const config::Config& config) {
  auto warn = [&](const std::optional<config::UpstreamTarget>& target, const std::string& where) {
    if (target && target->tls && target->tls->insecure) {
      log_->message(observe::Level::warn, "upstream_tls_insecure",
                    {{"upstream", target->url},
                     {"where", where},
                     {"reason",
                      "the upstream's certificate is not verified: anyone on the path "
                      "can read and change this traffic"}});
    }
  };
  warn(config.upstream, "upstream");
  for (const config::Route& route : config.routes) {
    warn(route.upstream, "routes[" + route.name + "]");
  }
  if (config.redis && config.redis->tls && config.redis->tls->insecure) {
    log_->message(observe::Level::warn, "redis_tls_insecure",
                  {{"redis", config.redis->address()},
                   {"reason",
                    "Redis's certificate is not verified: anyone on the path can read and change "
                    "the shared buckets"}});
  }
}

TcpAcceptor bind_listener(proxy::asio::io_context& io, const config::Endpoint& endpoint,
                          std::uint16_t port) {
  proxy::error_code ec;
  const auto address = proxy::asio::ip::make_address(endpoint.host, ec);
  const std::string where = config::Endpoint{endpoint.host, port}.to_string();
  if (ec) throw StartError("cannot listen on " + where + ": " + ec.message());
  TcpAcceptor acceptor(io);
  const tcp::endpoint ep(address, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(TcpAcceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(proxy::asio::socket_base::max_listen_connections, ec);
  if (ec) throw StartError("cannot listen on " + where + ": " + ec.message());
  return acceptor;
}

TcpAcceptor share_listener(proxy::asio::io_context& io, TcpAcceptor& listener) {
  proxy::error_code ec;
  const auto endpoint = listener.local_endpoint(ec);
  const int fd = ec ? -1 : ::dup(listener.native_handle());
  TcpAcceptor acceptor(io);
  if (fd >= 0) acceptor.assign(endpoint.protocol(), fd, ec);
  if (fd < 0 || ec) {
    if (fd >= 0) ::close(fd);
    throw StartError("cannot share the listener with a worker: " +
                     (ec ? ec.message() : std::string(std::strerror(errno))));
  }
  return acceptor;
}

Server::Server(std::shared_ptr<const config::Config> config, std::unique_ptr<observe::EventLog> log)
    : config_(std::move(config)),
      log_(std::move(log)),
      saved_state_(config_->state_file.empty() ? std::nullopt
                                               : read_state_file(config_->state_file, *log_)),
      table_(config_->max_keys),
      quotas_(config_->max_keys),
      limiter_(table_, quotas_,
               saved_state_ ? KeyedHash(saved_state_->hash_key) : KeyedHash::random()),
      services_(limiter_, metrics_, *log_, clock_) {
  if (saved_state_) {
    const Instant now = clock_.instant();
    const auto counts = limit::restore(*saved_state_, table_, now, largest_backlog(*config_));
    const std::size_t quotas = limit::restore_quotas(*saved_state_, quotas_, now);
    const std::int64_t stopped =
        std::max<std::int64_t>(0, now.unix_ns - saved_state_->saved_unix_ns);
    log_->message(observe::Level::info, "state_loaded",
                  {{"file", config_->state_file},
                   {"buckets", std::to_string(counts.restored), true},
                   {"quota_counters", std::to_string(quotas), true},
                   {"drained_while_stopped", std::to_string(counts.drained), true},
                   {"clamped", std::to_string(counts.clamped), true},
                   {"stopped_s", std::to_string(stopped / kNanosPerSecond), true}});
    saved_state_.reset();
  }
  std::vector<std::string> tls_errors;
  auto tls = proxy::TlsContexts::load(*config_, tls_errors);
  if (!tls) throw StartError(join_lines(tls_errors));
  warn_if_insecure(*config_);
  const auto runtime = proxy::Runtime::build(config_, std::move(tls), metrics_);
  declare_series(*config_);
  metrics_.gauge(observe::Family::start_time_seconds, {})
      .store(std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count());
  metrics_.on_scrape([this](observe::Metrics& m) { refresh_gauges(m); });
  if (config_->redis) {
    redis_health_ = std::make_unique<redis::Health>(config_->workers, *log_, metrics_);
    services_.redis_health = redis_health_.get();
  }
  for (unsigned i = 0; i < config_->workers; ++i) {
    workers_.push_back(std::make_unique<proxy::Worker>(services_, runtime));
  }
  // One listening socket for the process, which every worker accepts from through its own
  // duplicate of the descriptor. Not SO_REUSEPORT: with it, a second sluice started by mistake
  // on the same address joins the port, the kernel splits the clients between the two, and each
  // enforces the full limit. Without it, the second one fails with "Address already in use".
  acceptors_.push_back(
      bind_listener(workers_.front()->io(), config_->listen, config_->listen.port));
  port_ = acceptors_.front().local_endpoint().port();
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    acceptors_.push_back(share_listener(workers_[i]->io(), acceptors_.front()));
  }
  if (config_->admin) {
    auto io = std::make_unique<proxy::asio::io_context>(1);
    auto acceptor = bind_listener(*io, *config_->admin, config_->admin->port);
    admin_ = std::make_unique<proxy::AdminServer>(
        std::move(io), std::move(acceptor),
        proxy::AdminSources{[this] { return this->config(); }, metrics_, *log_, services_.draining,
                            stats_history_, &services_.limiter, &services_.clock,
                            workers_.front()->shared() != nullptr
                                ? std::function(peek_on_first_worker())
                                : nullptr});
  }
}

// The first worker's shared limiter reads for the admin thread: on its own thread, as it must.
std::function<Task<proxy::AdminSources::SharedReads>(std::vector<redis::SharedLimiter::Peek>)>
Server::peek_on_first_worker() {
  proxy::Worker* worker = workers_.front().get();
  return
      [worker](
          std::vector<redis::SharedLimiter::Peek> reads) -> Task<proxy::AdminSources::SharedReads> {
        co_return co_await proxy::asio::co_spawn(
            worker->io().get_executor(), worker->shared()->peek(std::move(reads)), use_awaitable);
      };
}

Server::~Server() {
  abort();
  join();
}

void Server::declare_series(const config::Config& config) {
  for (const char* result : {"success", "failure"}) {
    metrics_.counter(observe::Family::config_reloads_total, {{"result", result}});
  }
  // Every status sluice answers by itself, and those the config adds.
  for (unsigned status : {400, 404, 405, 408, 413, 414, 431, 502, 503, 504, 505}) {
    services_.local_response_counter(status);
  }
  for (const config::Route& route : config.routes) {
    if (!route.policy.limits.empty()) services_.local_response_counter(route.status);
    if (route.respond) services_.local_response_counter(route.respond->status);
  }
}

void Server::refresh_gauges(observe::Metrics& m) {
  using observe::Family;
  const auto evicted = table_.evictions();
  m.counter(Family::bucket_evictions_total, {{"kind", "drained"}}).store(evicted.drained);
  m.counter(Family::bucket_evictions_total, {{"kind", "forced"}}).store(evicted.forced);
  m.gauge(Family::buckets, {{"state", "active"}})
      .store(static_cast<std::int64_t>(table_.active(clock_.now())));
  m.gauge(Family::open_fds, {}).store(open_fds());
  m.gauge(Family::resident_memory_bytes, {}).store(resident_bytes());
}

void Server::start() {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->start(std::move(acceptors_[i]));
  }
  acceptors_.clear();
  for (auto& worker : workers_) {
    threads_.emplace_back([w = worker.get()] { w->io().run(); });
  }
  if (admin_) admin_->start();
  watcher_ = std::make_unique<ConfigWatcher>(
      [this] { return watched_files(*config()); }, [this] { return config()->watch_config; },
      [this, path = config_->source] { reload_from_file(path); });
  log_->message(
      observe::Level::info, "started",
      {{"listen", config::Endpoint{config_->listen.host, port_}.to_string()},
       {"workers", std::to_string(workers_.size()), true},
       {"routes", std::to_string(config_->routes.size()), true},
       {"admin", admin_ ? config::Endpoint{config_->admin->host, admin_->port()}.to_string() : ""},
       {"config", config_->source}});
}

std::shared_ptr<const config::Config> Server::config() const {
  std::lock_guard guard(config_mutex_);
  return config_;
}

namespace {

// Settings that belong to the process, not to a config generation: a reload keeps the running
// values (copied into `next`) and names those the new file tried to change.
std::vector<Server::KeptSetting> keep_process_settings(const config::Config& running,
                                                       config::Config& next) {
  std::vector<Server::KeptSetting> changed;
  // Each setting as text, so the log can say what runs and what was asked for.
  auto keep = [&](const char* name, auto& next_value, const auto& running_value,
                  const auto& text_of) {
    const std::string was = text_of(running);
    const std::string asked = text_of(next);
    if (was != asked) changed.push_back({name, was, asked});
    next_value = running_value;
  };
  keep("listen", next.listen, running.listen,
       [](const config::Config& c) { return c.listen.to_string(); });
  keep("admin", next.admin, running.admin, [](const config::Config& c) {
    return c.admin ? c.admin->to_string() : std::string("none");
  });
  keep("workers", next.workers, running.workers,
       [](const config::Config& c) { return std::to_string(c.workers); });
  keep("max_keys", next.max_keys, running.max_keys,
       [](const config::Config& c) { return std::to_string(c.max_keys); });
  keep("log.file", next.log.file, running.log.file,
       [](const config::Config& c) { return c.log.file; });
  keep("redis", next.redis, running.redis, [](const config::Config& c) {
    // address() holds no password; the rest of the block as /config shows it.
    if (!c.redis) return std::string("none");
    const config::RedisConfig& r = *c.redis;
    return r.address() + " timeout=" + std::to_string(r.timeout / kNanosPerMilli) +
           "ms on_error=" + std::string(to_string(r.on_error)) + " prefix=" + r.prefix;
  });
  return changed;
}

}  // namespace

std::vector<Server::KeptSetting> Server::reload(const std::shared_ptr<const config::Config>& next,
                                                std::shared_ptr<const proxy::TlsContexts> tls) {
  if (!tls) {
    std::vector<std::string> errors;
    tls = proxy::TlsContexts::load(*next, errors);
    if (!tls) throw StartError(join_lines(errors));
  }
  auto merged = std::make_shared<config::Config>(*next);
  std::vector<KeptSetting> kept = keep_process_settings(*config(), *merged);
  std::shared_ptr<const config::Config> config = std::move(merged);
  warn_if_insecure(*config);
  const auto runtime = proxy::Runtime::build(config, std::move(tls), metrics_);
  declare_series(*config);
  log_->apply(config->log);
  for (auto& worker : workers_) worker->set_runtime(runtime);
  std::lock_guard guard(config_mutex_);
  config_ = std::move(config);
  return kept;
}

bool Server::reload_from_file(const std::string& path) {
  std::lock_guard reloading(reload_mutex_);
  auto count = [&](const char* result) {
    metrics_.counter(observe::Family::config_reloads_total, {{"result", result}}).fetch_add(1);
  };
  auto loaded = config::load_file(path);
  if (loaded.config && !config()->redis) {
    // Shared limits need the connections a redis: block opens at start-up.
    for (const config::Route& route : loaded.config->routes) {
      if (route.policy.any_shared()) {
        loaded.errors.push_back(path + ": routes[" + route.name +
                                "]: shared limits need a restart: this process started without "
                                "a redis: block");
        loaded.config = nullptr;
        break;
      }
    }
  }
  // Certificates are read now: a file that does not load keeps the running ones.
  std::shared_ptr<const proxy::TlsContexts> tls;
  if (loaded.config) {
    tls = proxy::TlsContexts::load(*loaded.config, loaded.errors);
    if (!tls) loaded.config = nullptr;
  }
  if (!loaded.config) {
    for (const std::string& e : loaded.errors) {
      log_->message(observe::Level::error, "reload_failed", {{"error", e}});
    }
    count("failure");
    return false;
  }
  // Counted before the workers take the new config: whoever sees its behaviour sees the count.
  count("success");
  for (const KeptSetting& kept : reload(loaded.config, std::move(tls))) {
    log_->message(observe::Level::warn, "reload_kept_setting",
                  {{"field", kept.field},
                   {"running", kept.running},
                   {"new", kept.requested},
                   {"reason", "changing it needs a restart; the running value stays"}});
  }
  log_->message(observe::Level::info, "reloaded", {{"config", path}});
  return true;
}

void Server::shutdown() {
  services_.draining.store(true);
  for (auto& worker : workers_) worker->drain();
  const auto grace = std::chrono::nanoseconds(config()->timeouts.shutdown_grace);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  // Workers' event loops end by themselves once their last session has finished.
  for (auto& worker : workers_) {
    while (worker->sessions() > 0 && !aborted_.load() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  abort();
  join();
  save_state();
}

bool Server::save_state() {
  const std::string path = config()->state_file;
  if (path.empty()) return false;
  return write_state_file(path, limit::capture(table_, limiter_.hash(), clock_.instant(), &quotas_),
                          *log_);
}

void Server::abort() {
  aborted_.store(true);  // ends a drain's wait too
  services_.draining.store(true);
  for (auto& worker : workers_) worker->abort();
}

void Server::adopt(int fd) {
  workers_.front()->adopt(fd);
}

void Server::join() {
  watcher_.reset();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  if (admin_) admin_->stop();
  log_->flush();
}

}  // namespace sluice::app
