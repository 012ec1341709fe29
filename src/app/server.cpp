#include "sluice/app/server.hpp"

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/socket_base.hpp>
#include <chrono>
#include <fstream>

namespace sluice::app {
namespace {

using proxy::asio::ip::tcp;

// SO_REUSEPORT as an Asio socket option.
using reuse_port = proxy::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

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

}  // namespace

tcp::acceptor bind_listener(proxy::asio::io_context& io, const config::Endpoint& endpoint,
                            std::uint16_t port) {
  proxy::error_code ec;
  const auto address = proxy::asio::ip::make_address(endpoint.host, ec);
  const std::string where = config::Endpoint{endpoint.host, port}.to_string();
  if (ec) throw StartError("cannot listen on " + where + ": " + ec.message());
  tcp::acceptor acceptor(io);
  const tcp::endpoint ep(address, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.set_option(reuse_port(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(proxy::asio::socket_base::max_listen_connections, ec);
  if (ec) throw StartError("cannot listen on " + where + ": " + ec.message());
  return acceptor;
}

Server::Server(std::shared_ptr<const config::Config> config, std::unique_ptr<observe::EventLog> log)
    : config_(std::move(config)),
      log_(std::move(log)),
      table_(config_->max_keys),
      limiter_(table_, KeyedHash::random()),
      services_(limiter_, metrics_, *log_, clock_) {
  const auto runtime = proxy::Runtime::build(config_, metrics_);
  metrics_.gauge(observe::Family::start_time_seconds, {})
      .store(std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count());
  metrics_.on_scrape([this](observe::Metrics& m) { refresh_gauges(m); });
  for (unsigned i = 0; i < config_->workers; ++i) {
    workers_.push_back(std::make_unique<proxy::Worker>(services_, runtime));
  }
  // The first worker binds (port 0 picks a port); the others share that port via SO_REUSEPORT.
  for (auto& worker : workers_) {
    acceptors_.push_back(
        bind_listener(worker->io(), config_->listen, port_ ? port_ : config_->listen.port));
    port_ = acceptors_.back().local_endpoint().port();
  }
}

Server::~Server() {
  abort();
  join();
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
  log_->message(observe::Level::info, "started",
                {{"listen", config::Endpoint{config_->listen.host, port_}.to_string()},
                 {"workers", std::to_string(workers_.size()), true},
                 {"routes", std::to_string(config_->routes.size()), true},
                 {"config", config_->source}});
}

std::shared_ptr<const config::Config> Server::config() const {
  std::lock_guard guard(config_mutex_);
  return config_;
}

void Server::reload(std::shared_ptr<const config::Config> config) {
  const auto runtime = proxy::Runtime::build(config, metrics_);
  log_->apply(config->log);
  for (auto& worker : workers_) worker->set_runtime(runtime);
  std::lock_guard guard(config_mutex_);
  config_ = std::move(config);
}

void Server::shutdown() {
  services_.draining.store(true);
  for (auto& worker : workers_) worker->drain();
  const auto grace = std::chrono::nanoseconds(config()->timeouts.shutdown_grace);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  // Workers' event loops end by themselves once their last session has finished.
  for (auto& worker : workers_) {
    while (worker->sessions() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  abort();
  join();
}

void Server::abort() {
  services_.draining.store(true);
  for (auto& worker : workers_) worker->abort();
}

void Server::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  log_->flush();
}

}  // namespace sluice::app
