#pragma once

namespace sluice::app {

// argv → exit code (DESIGN §6): run, --check, --version, --help.
int run_cli(int argc, char** argv);

}  // namespace sluice::app
