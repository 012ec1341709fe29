// Stream::write_now and consume(): a write the socket takes at once, and what is left of the
// buffers when it takes only part, over a real loopback connection whose buffers are small.
#include "sluice/proxy/stream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <numeric>
#include <string>
#include <vector>

namespace sluice::proxy {
namespace {

std::string as_text(std::span<const asio::const_buffer> buffers) {
  std::string out;
  for (const auto& b : buffers) out.append(static_cast<const char*>(b.data()), b.size());
  return out;
}

TEST(Consume, DropsWholeBuffersThenAdvancesIntoTheNext) {
  std::array<asio::const_buffer, 3> storage{asio::buffer("abc", 3), asio::buffer("de", 2),
                                            asio::buffer("fgh", 3)};
  std::span<asio::const_buffer> buffers(storage);
  consume(buffers, 4);
  ASSERT_EQ(buffers.size(), 2U);
  EXPECT_EQ(as_text(buffers), "efgh");
  consume(buffers, 1);
  EXPECT_EQ(as_text(buffers), "fgh");
  consume(buffers, 3);
  EXPECT_TRUE(buffers.empty());
}

TEST(Consume, EmptyBuffersLeftAtTheEndAreDroppedWithTheLastBytes) {
  std::array<asio::const_buffer, 2> storage{asio::buffer("ab", 2), asio::const_buffer()};
  std::span<asio::const_buffer> buffers(storage);
  consume(buffers, 2);
  EXPECT_TRUE(buffers.empty());  // nothing left to write: no asynchronous write follows
}

TEST(StreamWriteNow, WhatTheSocketCannotTakeIsLeftForTheAsynchronousWrite) {
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  TcpSocket reader(io);
  TcpSocket writer(io);
  acceptor.set_option(asio::socket_base::receive_buffer_size(4096));  // the accepted socket's
  writer.open(tcp::v4());
  writer.set_option(asio::socket_base::send_buffer_size(4096));
  writer.connect(acceptor.local_endpoint());
  acceptor.accept(reader);
  Stream stream(std::move(writer));

  std::string big(4 * 1024 * 1024, '\0');
  std::iota(big.begin(), big.end(), 'a');  // bytes out of order would show
  std::array<asio::const_buffer, 2> storage{asio::buffer(big.data(), 10),
                                            asio::buffer(big.data() + 10, big.size() - 10)};
  std::span<asio::const_buffer> unsent(storage);
  error_code ec;
  write_now(stream, unsent, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_FALSE(unsent.empty()) << "the socket took 4 MiB at once: the test proves nothing";
  const std::size_t left = asio::buffer_size(unsent);
  EXPECT_LT(left, big.size());

  std::string received(big.size(), '\0');
  asio::async_write(stream, unsent, [&](error_code write_ec, std::size_t n) {
    EXPECT_FALSE(write_ec);
    EXPECT_EQ(n, left);
  });
  asio::async_read(reader, asio::buffer(received),
                   [&](error_code read_ec, std::size_t) { EXPECT_FALSE(read_ec); });
  io.run_for(std::chrono::seconds(20));
  EXPECT_TRUE(received == big);
}

TEST(StreamWriteNow, AClosedPeerIsAnError) {
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  TcpSocket reader(io);
  TcpSocket writer(io);
  writer.connect(acceptor.local_endpoint());
  acceptor.accept(reader);
  reader.set_option(asio::socket_base::linger(true, 0));
  reader.close();  // a reset: the next writes fail
  Stream stream(std::move(writer));
  const std::string bytes(1024, 'x');
  error_code ec;
  for (int i = 0; i < 100 && !ec; ++i) {
    std::array<asio::const_buffer, 1> storage{asio::buffer(bytes)};
    std::span<asio::const_buffer> unsent(storage);
    write_now(stream, unsent, ec);
  }
  EXPECT_TRUE(ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
      << ec.message();
}

}  // namespace
}  // namespace sluice::proxy
