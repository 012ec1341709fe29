#pragma once
// The one JSON string escaper: logs, admin answers, problem+json bodies and the config dump.
// Output is pure printable ASCII whatever the input, so a client's bytes can neither break a
// line nor forge a field.

#include <string>
#include <string_view>

namespace sluice {

// Appends `s` as a quoted JSON string: `"` and `\` escaped, every byte outside printable ASCII
// as \u00XX (its Latin-1 reading: lossless, if not pretty, for UTF-8).
void append_json_string(std::string& out, std::string_view s);

inline std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

}  // namespace sluice
