#pragma once
// Environment variables set for the life of an object: the config examples read their listen
// addresses from the environment, so tests can run them on free ports as written.

#include <cstdlib>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace sluice::testing {

class Environment {
 public:
  Environment(std::initializer_list<std::pair<const char*, std::string>> variables) {
    for (const auto& [name, value] : variables) {
      ::setenv(name, value.c_str(), 1);
      names_.push_back(name);
    }
  }
  ~Environment() {
    for (const char* name : names_) ::unsetenv(name);
  }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  std::vector<const char*> names_;
};

}  // namespace sluice::testing
