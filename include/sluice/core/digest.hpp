#pragma once
// SHA-256 for key digests: stable across processes and restarts, so an operator can find a
// client's lines with `printf %s "$KEY" | sha256sum` without the logs holding the key.

#include <string>
#include <string_view>

namespace sluice {

// The 64 lower-case hex digits of SHA-256(bytes).
std::string sha256_hex(std::string_view bytes);
// The 40 lower-case hex digits of SHA-1(bytes): how Redis names a script for EVALSHA.
std::string sha1_hex(std::string_view bytes);

}  // namespace sluice
