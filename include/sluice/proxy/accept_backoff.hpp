#pragma once
// What an accept loop does when accept() fails (EMFILE, ENFILE, ENOBUFS): say so once per
// failure and pause, instead of spinning on a listener that stays readable or giving up.

#include <chrono>
#include <string_view>

#include "sluice/observe/event_log.hpp"
#include "sluice/proxy/beast.hpp"

namespace sluice::proxy {

inline constexpr auto kAcceptBackoff = std::chrono::milliseconds(50);

inline Task<void> back_off_after_accept_failure(const error_code& ec, observe::EventLog& log,
                                                std::string_view listener) {
  log.message(observe::Level::warn, "accept_failed",
              {{"listener", std::string(listener)}, {"error", ec.message()}});
  SteadyTimer pause(co_await asio::this_coro::executor, kAcceptBackoff);
  co_await pause.async_wait(use_tuple);
}

}  // namespace sluice::proxy
