#pragma once
// Who is at the other end of an accepted connection.

#include <optional>

#include "sluice/core/ip.hpp"
#include "sluice/proxy/beast.hpp"

namespace sluice::proxy {

// The address at the other end of a connected socket; nullopt when it is not an IP socket.
std::optional<IpAddress> peer_address(TcpSocket& socket);

}  // namespace sluice::proxy
