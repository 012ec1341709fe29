#include "sluice/app/cli.hpp"

#include <csignal>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/signal_set.hpp>

#include "sluice/app/server.hpp"
#include "sluice/config/load.hpp"
#include "sluice/proxy/explain.hpp"

namespace sluice::app {
namespace {

constexpr std::string_view kUsage =
    "usage: sluice [-c FILE | --config FILE]     run (default: config/sluice.yaml)\n"
    "       sluice --check [-c FILE]             validate the config and exit\n"
    "       sluice --explain [-c FILE] [-H 'Name: value']... [--client IP] 'METHOD /path'\n"
    "                                            what sluice would do with that request, as JSON\n"
    "       sluice --version | --help\n"
    "\n"
    "signals: SIGHUP reloads the config, SIGTERM/SIGINT drain and exit (a second one exits at\n"
    "once), SIGUSR1 reopens the log file.\n";

struct Options {
  std::string config = "config/sluice.yaml";
  bool check = false;
  bool explain = false;
  proxy::ExplainRequest request;
  bool request_given = false;
};

void print_errors(const std::vector<std::string>& errors) {
  for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
}

// --explain: the answer on stdout, buckets empty; 1 when the config or the request is bad.
int explain(const Options& options) {
  auto loaded = config::load_file(options.config);
  if (!loaded.config) {
    print_errors(loaded.errors);
    return 1;
  }
  if (!options.request_given) {
    std::fprintf(stderr, "sluice: --explain needs the request, e.g. 'GET /api/orders'\n");
    return 1;
  }
  std::string error;
  const std::string answer = proxy::explain(*loaded.config, options.request, error);
  if (answer.empty()) {
    std::fprintf(stderr, "sluice: %s\n", error.c_str());
    return 1;
  }
  std::printf("%s\n", answer.c_str());
  return 0;
}

int serve(const Options& options) {
  auto loaded = config::load_file(options.config);
  if (!loaded.config) {
    print_errors(loaded.errors);
    return 1;
  }
  std::string error;
  auto log = observe::EventLog::open(loaded.config->log, error);
  if (!log) {
    std::fprintf(stderr, "sluice: %s\n", error.c_str());
    return 1;
  }
  for (const std::string& warning : loaded.warnings) {
    log->message(observe::Level::warn, "config_warning", {{"reason", warning}});
  }
  std::unique_ptr<Server> server;
  try {
    server = std::make_unique<Server>(loaded.config, std::move(log));
  } catch (const StartError& e) {
    std::fprintf(stderr, "sluice: %s\n", e.what());
    return 1;
  }
  // Caught from before the first line that says we are up: a SIGUSR1 or SIGHUP sent in
  // answer to "started" must not meet the default action, which ends the process.
  proxy::asio::io_context signals_io;
  proxy::asio::signal_set signals(signals_io, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR1);
  server->start();
  std::thread draining;
  bool stopping = false;
  std::function<void(const proxy::error_code&, int)> on_signal = [&](const proxy::error_code& ec,
                                                                     int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      server->reload_from_file(options.config);
    } else if (signo == SIGUSR1) {
      if (!server->log().reopen()) {
        server->log().message(observe::Level::error, "log_reopen_failed",
                              {{"file", server->config()->log.file}});
      }
    } else if (!stopping) {
      stopping = true;
      server->log().message(observe::Level::info, "draining",
                            {{"signal", std::to_string(signo), true}});
      draining = std::thread([&] {
        server->shutdown();
        proxy::asio::post(signals_io, [&] { signals_io.stop(); });
      });
    } else {
      server->log().message(observe::Level::warn, "aborting",
                            {{"signal", std::to_string(signo), true}});
      server->abort();
      signals_io.stop();
      return;
    }
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  signals_io.run();
  if (draining.joinable()) draining.join();
  server->join();
  server->log().message(observe::Level::info, "stopped");
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--version") {
      std::printf("sluice %s\n", SLUICE_VERSION);
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    }
    if (arg == "--check") {
      options.check = true;
    } else if (arg == "--explain") {
      options.explain = true;
    } else if (arg == "-H" && i + 1 < argc) {
      const std::string_view header = argv[++i];
      const auto colon = header.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        std::fprintf(stderr, "sluice: -H wants 'Name: value', not '%s'\n", argv[i]);
        return 1;
      }
      std::string_view value = header.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      options.request.headers.emplace_back(header.substr(0, colon), value);
    } else if (arg == "--client" && i + 1 < argc) {
      options.request.client = argv[++i];
    } else if (options.explain && !options.request_given &&
               arg.find(' ') != std::string_view::npos) {
      const auto space = arg.find(' ');
      options.request.method = std::string(arg.substr(0, space));
      options.request.target = std::string(arg.substr(space + 1));
      options.request_given = true;
    } else if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
      options.config = argv[++i];
    } else {
      std::fprintf(stderr, "sluice: unknown argument '%s'\n%s", argv[i], kUsage.data());
      return 1;
    }
  }
  if (options.explain) return explain(options);
  if (options.check) {
    auto loaded = config::load_file(options.config);
    // The certificate files are part of what --check checks: a start would fail on them.
    if (loaded.config && !proxy::TlsContexts::load(*loaded.config, loaded.errors)) {
      loaded.config = nullptr;
    }
    if (!loaded.config) {
      print_errors(loaded.errors);
      return 1;
    }
    for (const std::string& warning : loaded.warnings) {
      std::fprintf(stderr, "warning: %s\n", warning.c_str());
    }
    std::printf("%s: ok\n", options.config.c_str());
    return 0;
  }
  return serve(options);
}

}  // namespace sluice::app
