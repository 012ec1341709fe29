#pragma once
// ${VAR}, ${VAR:-default} and $$ in config values (README, "Configuration"): containers are
// configured through their environment, and an upstream address or a Redis password differs per
// deployment.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "config/reader.hpp"
#include "sluice/config/load.hpp"

namespace sluice::config {

// The process environment.
std::optional<std::string> process_environment(const std::string& name);

struct Expansion {
  std::string text;
  std::string error;  // empty on success
};

// Replaces every ${NAME} and ${NAME:-default} with the variable's value (the default when it is
// unset or empty, as in the shell) and every $$ with $. Any other $ is kept: regular expressions
// end with one. An unset variable without a default, or a ${ without its }, is an error.
Expansion expand_environment(std::string_view text, const EnvironmentLookup& lookup);

// Expands every scalar value of the tree (mapping keys are left as written); each error names
// the variable and the field.
void expand_environment(Node& root, Reader& reader, const EnvironmentLookup& lookup);

}  // namespace sluice::config
