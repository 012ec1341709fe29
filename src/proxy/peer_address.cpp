#include "sluice/proxy/peer_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace sluice::proxy {

std::optional<IpAddress> peer_address(TcpSocket& socket) {
  // Asked of the descriptor, not through tcp::endpoint: an adopted socket may be no IP socket
  // at all (a socketpair), and its address is then unknown rather than misread.
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  char text[INET6_ADDRSTRLEN] = {};
  if (::getpeername(socket.native_handle(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return std::nullopt;
  }
  const void* bytes = nullptr;
  if (address.ss_family == AF_INET) bytes = &reinterpret_cast<sockaddr_in*>(&address)->sin_addr;
  if (address.ss_family == AF_INET6) bytes = &reinterpret_cast<sockaddr_in6*>(&address)->sin6_addr;
  if (bytes == nullptr || ::inet_ntop(address.ss_family, bytes, text, sizeof text) == nullptr) {
    return std::nullopt;
  }
  return IpAddress::parse(text);
}

}  // namespace sluice::proxy
