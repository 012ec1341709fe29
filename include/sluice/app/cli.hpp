#pragma once

namespace sluice::app {

// argv → exit code (README, "Command line and signals"): run, --check, --version, --help.
int run_cli(int argc, char** argv);

}  // namespace sluice::app
