// Clients that send too much, too slowly, ambiguously or nonsense.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <thread>

#include "support/proxy_harness.hpp"
#include "support/raw_upstream.hpp"
#include "support/test_upstream.hpp"

namespace sluice::testing {
namespace {

using Clock = std::chrono::steady_clock;

class HostileClient : public ::testing::Test {
 protected:
  HostileClient()
      : proxy_("version: 1\nupstream: " + upstream_.url() +
               "\nhttp: { max_header_bytes: 2048, max_body_bytes: 1000, max_connections: 50 }\n"
               "timeouts: { client_header: 500ms, client_idle: 700ms }\n"
               "routes:\n  - { name: slow, match: { path_prefix: /slow }, max_rate: 1, "
               "time_period: 500ms, action: delay }\n") {}

  // What sluice answers to raw bytes, up to its closing the connection.
  std::string exchange(const std::string& bytes) {
    Client client(proxy_.port());
    client.write_raw(bytes);
    return client.read_all();
  }
  static std::string status_line(const std::string& response) {
    return response.substr(0, response.find("\r\n"));
  }

  TestUpstream upstream_;
  ProxyHarness proxy_;
};

TEST_F(HostileClient, HeadersOverTheLimitAre431) {
  const std::string big(3000, 'x');
  EXPECT_EQ(status_line(exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n")),
            "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST_F(HostileClient, TooManyHeaderFieldsAre431) {
  std::string request = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 150; ++i) request += "A" + std::to_string(i) + ": 1\r\n";
  EXPECT_EQ(status_line(exchange(request + "\r\n")),
            "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST_F(HostileClient, RequestLineOverTheLimitIs414) {
  EXPECT_EQ(
      status_line(exchange("GET /" + std::string(3000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n")),
      "HTTP/1.1 414 URI Too Long");
}

TEST_F(HostileClient, DeclaredBodyOverTheLimitIs413AtOnce) {
  EXPECT_EQ(status_line(exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")),
            "HTTP/1.1 413 Payload Too Large");
  EXPECT_EQ(upstream_.request_count(), 0u);
}

TEST_F(HostileClient, ChunkedBodyOverTheLimitIs413AsSoonAsExceeded) {
  const std::string chunk = "400\r\n" + std::string(1024, 'z') + "\r\n";
  const std::string response =
      exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk);
  EXPECT_EQ(status_line(response), "HTTP/1.1 413 Payload Too Large");
}

TEST_F(HostileClient, AmbiguousFramingIsRefusedAndNeverForwarded) {
  const std::vector<std::string> smuggles = {
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: "
      "chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nX-Space : a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nX-Cr: a\rb\r\n\r\n",
      "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",
  };
  for (const std::string& smuggle : smuggles) {
    const std::string line = status_line(exchange(smuggle));
    EXPECT_EQ(line.substr(line.find(' ') + 1), "400 Bad Request") << smuggle;
  }
  EXPECT_EQ(upstream_.request_count(), 0u);
}

TEST_F(HostileClient, GarbageIsRefused) {
  const std::string client_hello("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11);
  EXPECT_EQ(status_line(exchange(client_hello + std::string(100, '\x01'))),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(exchange("\x01\x02\x03 garbage \xff\xfe\r\n\r\n")),
            "HTTP/1.1 400 Bad Request");
  // The HTTP/2 preface switches the connection to HTTP/2; a first frame other than SETTINGS
  // (here an empty DATA frame on stream 0) is a connection error: SETTINGS, then GOAWAY.
  const std::string h2 = exchange("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + std::string(9, '\0'));
  ASSERT_GE(h2.size(), 9u);
  EXPECT_EQ(h2[3], '\x04') << "first frame: SETTINGS";
  EXPECT_NE(h2.find(std::string("\x07\x00\x00\x00\x00\x00", 6)), std::string::npos) << "GOAWAY";
  EXPECT_EQ(status_line(exchange("GET / HTTP/9.9\r\nHost: x\r\n\r\n")),
            "HTTP/1.1 505 HTTP Version Not Supported");
  EXPECT_EQ(upstream_.request_count(), 0u);
}

TEST_F(HostileClient, DribbledHeadersTimeOutWith408) {
  Client client(proxy_.port());
  const auto start = Clock::now();
  client.write_raw("GET / HTTP/1.1\r\nHost: x\r\n");  // and never the blank line
  const std::string response = client.read_all();
  const double waited = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(status_line(response), "HTTP/1.1 408 Request Timeout");
  EXPECT_GE(waited, 0.4);
  EXPECT_LT(waited, 3.0);
}

TEST_F(HostileClient, AStalledBodyTimesOutWith408) {
  // The head, three of the ten bytes it declares, then nothing: answered after client_idle, as
  // an HTTP/2 stream's stalled body is.
  const std::string response =
      exchange("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(status_line(response), "HTTP/1.1 408 Request Timeout");
}

TEST_F(HostileClient, IdleKeepAliveConnectionIsClosed) {
  Client client(proxy_.port());
  EXPECT_EQ(client.request("GET", "/").status, 200u);
  const auto start = Clock::now();
  EXPECT_EQ(client.read_all(), "");  // sluice closes without a word
  const double waited = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(waited, 0.5);
  EXPECT_LT(waited, 3.0);
}

TEST_F(HostileClient, PipelinedRequestsAreAnsweredInOrderBehindADelayedOne) {
  Client client(proxy_.port());
  client.write_raw(
      "GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /slow/2 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nthird");
  EXPECT_EQ(client.receive().status, 200u);
  EXPECT_EQ(client.receive().status, 200u);  // delayed 500 ms
  EXPECT_EQ(client.receive().body, "third");
  const auto received = upstream_.requests();
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[0].target, "/slow/1");
  EXPECT_EQ(received[1].target, "/slow/2");
  EXPECT_EQ(received[2].target, "/echo");
}

TEST(ConnectionFlood, ConnectionsAboveTheLimitAreAnswered503) {
  TestUpstream upstream;
  ProxyHarness proxy("version: 1\nupstream: " + upstream.url() +
                     "\nhttp: { max_connections: 2 }\n");
  Client a(proxy.port());
  Client b(proxy.port());
  EXPECT_EQ(a.request("GET", "/").status, 200u);
  EXPECT_EQ(b.request("GET", "/").status, 200u);
  Client c(proxy.port());
  const std::string refused = c.read_all();
  EXPECT_EQ(refused.substr(0, refused.find("\r\n")), "HTTP/1.1 503 Service Unavailable");
  a.close();
  // A freed slot is usable again.
  EXPECT_TRUE(wait_until([&] {
    Client d(proxy.port());
    d.send("GET", "/");
    return d.receive().status == 200;
  }));
}

TEST(SlowReader, ClientThatStopsReadingIsClosedByTheWriteDeadlineWithoutBuffering) {
  constexpr std::uint64_t kDeclared = std::uint64_t{1} << 30;  // a 1 GiB response
  std::atomic<std::uint64_t> sent{0};
  std::atomic<bool> cut_off{false};
  RawUpstream upstream([&](RawUpstream::Socket& s, int) {
    RawUpstream::read_request_head(s);
    RawUpstream::write(
        s, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kDeclared) + "\r\n\r\n");
    const std::string block(64 * 1024, 'z');
    boost::system::error_code ec;
    while (!ec && sent < kDeclared) sent += boost::asio::write(s, boost::asio::buffer(block), ec);
    cut_off = true;
  });
  ProxyHarness proxy("version: 1\nupstream: " + upstream.url() +
                     "\ntimeouts: { client_idle: 300ms, upstream_response: 60s }\n");
  Client client(proxy.port());
  client.send("GET", "/big");
  // The client reads nothing: sluice's write stalls, its deadline closes both connections.
  ASSERT_TRUE(wait_until([&] { return cut_off.load(); }, std::chrono::seconds(30)));
  // sluice read no more than the socket buffers on both sides hold (tens of MB at most with
  // Linux's autotuning), not the body: an unbounded proxy would have taken the whole GiB.
  EXPECT_LT(sent.load(), std::uint64_t{128} << 20);
  // What the client can still read ends with the close, far short of the body.
  EXPECT_LT(client.read_all().size(), std::uint64_t{128} << 20);
}

// Lowers the process's open-file limit to the highest descriptor in use and fills the gaps
// below it, so that sluice's next accept fails with EMFILE; gives everything back when done.
class FileDescriptorsExhausted {
 public:
  FileDescriptorsExhausted() {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit low = saved_;
    low.rlim_cur = highest_open() + 1;
    ::setrlimit(RLIMIT_NOFILE, &low);
    for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) fillers_.push_back(fd);
  }
  ~FileDescriptorsExhausted() {
    for (int fd : fillers_) ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }
  FileDescriptorsExhausted(const FileDescriptorsExhausted&) = delete;
  FileDescriptorsExhausted& operator=(const FileDescriptorsExhausted&) = delete;

 private:
  static rlim_t highest_open() {
    int highest = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      highest = std::max(highest, std::stoi(entry.path().filename().string()));
    }
    return static_cast<rlim_t>(highest);
  }
  rlimit saved_{};
  std::vector<int> fillers_;
};

TEST(ConnectionFlood, RunningOutOfFileDescriptorsOnAcceptBacksOffAndRecovers) {
  namespace asio = boost::asio;
  // A `respond` route: no upstream, whose own threads would need descriptors during the drought.
  ProxyHarness proxy("version: 1\nroutes:\n  - { name: hi, respond: { body: hi } }\n");
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), proxy.port());
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> clients;
  for (int i = 0; i < 3; ++i) clients.emplace_back(io).open(asio::ip::tcp::v4());
  // Opened now, read with plain read(2): no descriptor to spare later, and no iostream whose
  // first use would make UBSan's vptr check open a pipe.
  const int log = ::open(proxy.log_path().c_str(), O_RDONLY);
  ASSERT_GE(log, 0);
  std::string logged;
  {
    FileDescriptorsExhausted exhausted;
    // Connecting needs no new descriptor on this side; accepting one does on sluice's.
    for (auto& c : clients) c.connect(endpoint);
    ASSERT_TRUE(wait_until([&] {
      char chunk[4096];
      for (ssize_t n; (n = ::read(log, chunk, sizeof chunk)) > 0;) logged.append(chunk, n);
      return logged.find("accept_failed") != std::string::npos;
    }));
  }
  ::close(log);
  EXPECT_NE(logged.find("Too many open files"), std::string::npos) << logged;
  // With descriptors back, the waiting connections are accepted and served.
  for (auto& c : clients) {
    asio::write(c, asio::buffer(
                       std::string_view("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
    std::string response;
    boost::system::error_code ec;
    asio::read(c, asio::dynamic_buffer(response), ec);
    EXPECT_EQ(ec, asio::error::eof);
    EXPECT_EQ(response.substr(0, response.find("\r\n")), "HTTP/1.1 200 OK");
  }
}

std::size_t occurrences(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(ConnectionFlood, AdminListenerAlsoBacksOffWhenOutOfFileDescriptors) {
  namespace asio = boost::asio;
  ProxyHarness proxy(
      "version: 1\nadmin: 127.0.0.1:0\nroutes:\n  - { name: hi, respond: { body: hi } }\n");
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                                         proxy.server().admin_port());
  asio::io_context io;
  asio::ip::tcp::socket client(io);
  client.open(asio::ip::tcp::v4());
  const int log = ::open(proxy.log_path().c_str(), O_RDONLY);
  ASSERT_GE(log, 0);
  std::string logged;
  const auto started = std::chrono::steady_clock::now();
  {
    FileDescriptorsExhausted exhausted;
    client.connect(endpoint);
    ASSERT_TRUE(wait_until([&] {
      char chunk[4096];
      for (ssize_t n; (n = ::read(log, chunk, sizeof chunk)) > 0;) logged.append(chunk, n);
      // No iostreams while descriptors are out: UBSan's vptr check would open a pipe.
      return occurrences(logged, "\"listener\":\"admin\"") >= 3;
    }));
  }
  ::close(log);
  // One line per 50 ms pause, not a spin.
  const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
  EXPECT_LE(occurrences(logged, "\"listener\":\"admin\""),
            static_cast<std::size_t>(elapsed_ms / 50 + 2));
  EXPECT_NE(logged.find("Too many open files"), std::string::npos) << logged;
  asio::write(client, asio::buffer(std::string_view("GET /healthz HTTP/1.0\r\n\r\n")));
  std::string response;
  boost::system::error_code ec;
  asio::read(client, asio::dynamic_buffer(response), ec);
  EXPECT_EQ(response.substr(0, response.find("\r\n")), "HTTP/1.1 200 OK");
}

}  // namespace
}  // namespace sluice::testing
