#include "sluice/proxy/stream.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>

namespace sluice::proxy {

std::size_t Stream::write_now(std::span<const asio::const_buffer> buffers, error_code& ec) {
  ec = {};
  if (tls_) return 0;
  static constexpr std::size_t kMaxPieces = 8;
  std::array<iovec, kMaxPieces> pieces{};
  std::size_t count = 0;
  for (const asio::const_buffer& buffer : buffers) {
    if (count == kMaxPieces) break;
    if (buffer.size() == 0) continue;
    pieces[count++] = {const_cast<void*>(buffer.data()), buffer.size()};
  }
  if (count == 0) return 0;
  msghdr message{};
  message.msg_iov = pieces.data();
  message.msg_iovlen = count;
  const ssize_t sent = ::sendmsg(socket_.native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent >= 0) return static_cast<std::size_t>(sent);
  if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    ec = error_code(errno, asio::error::get_system_category());
  }
  return 0;
}

void consume(std::span<asio::const_buffer>& buffers, std::size_t n) noexcept {
  while (!buffers.empty() && n >= buffers.front().size()) {
    n -= buffers.front().size();
    buffers = buffers.subspan(1);
  }
  if (n > 0) buffers.front() += n;
}

}  // namespace sluice::proxy
