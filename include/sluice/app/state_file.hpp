#pragma once
// Reading and writing state_file (README, "Reload, shutdown, log rotation, state"). Whatever is
// wrong with the file is logged and ignored: it never stops sluice from starting.

#include <optional>
#include <string>

#include "sluice/limit/snapshot.hpp"
#include "sluice/observe/event_log.hpp"

namespace sluice::app {

// The snapshot in `path`, or nullopt (missing, unreadable, corrupt, foreign: logged).
std::optional<limit::Snapshot> read_state_file(const std::string& path, observe::EventLog& log);

// Writes `snapshot` to `path` atomically (a temporary file in the same directory, flushed to
// disk, then renamed over it), readable by its owner only: it holds the hash key. Logs the result.
bool write_state_file(const std::string& path, const limit::Snapshot& snapshot,
                      observe::EventLog& log);

}  // namespace sluice::app
