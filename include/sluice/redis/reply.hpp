#pragma once
// A Redis reply as plain values, and commands in RESP. Parsing is hiredis's reader (the reference
// RESP parser); this is what its replies are copied into, so no hiredis type leaves reader.cpp.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::redis {

struct Reply {
  enum class Type { string, array, integer, nil, status, error };
  Type type = Type::nil;
  std::string text;  // string, status, error
  long long integer = 0;
  std::vector<Reply> elements;

  [[nodiscard]] bool is_error() const noexcept { return type == Type::error; }
  [[nodiscard]] bool is_status(std::string_view s) const noexcept {
    return type == Type::status && text == s;
  }
};

// Appends `args` as one RESP command (an array of bulk strings) to `out`.
void append_command(std::string& out, std::span<const std::string> args);

// Incremental RESP parsing of what a connection reads.
class ReplyReader {
 public:
  ReplyReader();
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  void feed(std::string_view bytes);
  // The next complete reply; nullopt when more bytes are needed. Sets `broken` (and a reason)
  // when the stream is not RESP: the connection must then be dropped.
  std::optional<Reply> next();
  [[nodiscard]] bool broken() const noexcept { return !problem_.empty(); }
  [[nodiscard]] const std::string& problem() const noexcept { return problem_; }

 private:
  void* reader_;  // redisReader
  std::string problem_;
};

}  // namespace sluice::redis
