#include "sluice/app/cli.hpp"

#include <cstdio>
#include <string_view>

namespace sluice::app {

int run_cli(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--version") {
      std::printf("sluice %s\n", SLUICE_VERSION);
      return 0;
    }
  }
  std::fprintf(stderr, "usage: sluice [-c FILE] [--check] [--version] [--help]\n");
  return 1;
}

}  // namespace sluice::app
