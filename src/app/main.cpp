#include "sluice/app/cli.hpp"

int main(int argc, char** argv) {
  return sluice::app::run_cli(argc, argv);
}
