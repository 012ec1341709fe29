#pragma once
// The event loop's types. Every socket, timer and coroutine of sluice runs on one io_context's
// executor, named by its concrete type: Asio's default, any_io_executor, erases the type, and
// each copy, dispatch and post of it goes through a function table, on every operation a request
// makes (docs/BENCHMARKS.md has what the concrete type bought).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace sluice {

namespace asio = boost::asio;

using Executor = asio::io_context::executor_type;
template <class T = void>
using Task = asio::awaitable<T, Executor>;
using TcpSocket = asio::basic_stream_socket<asio::ip::tcp, Executor>;
using TcpAcceptor = asio::basic_socket_acceptor<asio::ip::tcp, Executor>;
using TcpResolver = asio::ip::basic_resolver<asio::ip::tcp, Executor>;
using SteadyTimer =
    asio::basic_waitable_timer<std::chrono::steady_clock,
                               asio::wait_traits<std::chrono::steady_clock>, Executor>;

// Awaits an operation from a Task.
inline constexpr asio::use_awaitable_t<Executor> use_awaitable;
// The same, with its error returned as a value instead of thrown.
inline constexpr auto use_tuple = asio::as_tuple(use_awaitable);

}  // namespace sluice
