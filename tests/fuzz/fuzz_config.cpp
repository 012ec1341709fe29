// libFuzzer: the config loader must turn any bytes into a config or errors, never crash or hang.
#include <cstdint>
#include <string>

#include "sluice/config/load.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto result = sluice::config::load_string(text, "fuzz.yaml");
  if (!result.config && result.errors.empty()) __builtin_trap();  // failure must say why
  return 0;
}
