#include "sluice/proxy/client_head.hpp"

#include <algorithm>
#include <functional>

namespace sluice::proxy {

void ClientHead::method_string(std::string_view method) {
  method_ = http::string_to_verb(method);
  method_text_ = keep(method);
}

void ClientHead::method(http::verb method, std::string_view text) {
  method_ = method;
  method_text_ = keep(text);
}

// Sizes fit in 32 bits: a head is bounded by max_header_bytes, an HTTP/2 header block by
// the same, an explain query by the admin server's request limit.
// `s` may view the arena itself (HTTP/2 joins cookies so): Boost's vector copies an inserted
// range into the new storage before it frees the old.
ClientHead::Text ClientHead::keep(std::string_view s) {
  const Text t{static_cast<std::uint32_t>(arena_.size()), static_cast<std::uint32_t>(s.size())};
  arena_.insert(arena_.end(), s.begin(), s.end());
  return t;
}

std::string_view ClientHead::operator[](http::field name) const noexcept {
  for (const Stored& f : fields_) {
    if (f.name == name) return text(f.value);
  }
  return {};
}

std::string_view ClientHead::operator[](std::string_view name) const noexcept {
  for (const Stored& f : fields_) {
    if (beast::iequals(text(f.name_text), name)) return text(f.value);
  }
  return {};
}

std::size_t ClientHead::count(http::field name) const noexcept {
  return static_cast<std::size_t>(std::count_if(
      fields_.begin(), fields_.end(), [name](const Stored& f) { return f.name == name; }));
}

std::size_t ClientHead::count(std::string_view name) const noexcept {
  return static_cast<std::size_t>(
      std::count_if(fields_.begin(), fields_.end(),
                    [&](const Stored& f) { return beast::iequals(text(f.name_text), name); }));
}

void ClientHead::insert(std::string_view name, std::string_view value) {
  insert(http::string_to_field(name), name, value);
}

void ClientHead::insert(http::field name, std::string_view name_text, std::string_view value) {
  // Either may view the arena, which the first copy could move before the second is read: room
  // for both first, and the views rebased if the arena moved.
  const char* before = arena_.data();
  const std::size_t used = arena_.size();
  arena_.reserve(used + name_text.size() + value.size());
  const auto rebase = [&](std::string_view s) {
    const std::less<const char*> below;
    const bool inside = !below(s.data(), before) && below(s.data(), before + used);
    return inside ? std::string_view(arena_.data() + (s.data() - before), s.size()) : s;
  };
  const Text name_at = keep(rebase(name_text));
  fields_.push_back({name, name_at, keep(rebase(value))});
}

void ClientHead::set(http::field name, std::string_view value) {
  erase(name);
  insert(name, view(http::to_string(name)), value);
}

void ClientHead::set(std::string_view name, std::string_view value) {
  erase(name);
  insert(name, value);
}

void ClientHead::erase(http::field name) noexcept {
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                               [name](const Stored& f) { return f.name == name; }),
                fields_.end());
}

void ClientHead::erase(std::string_view name) noexcept {
  fields_.erase(
      std::remove_if(fields_.begin(), fields_.end(),
                     [&](const Stored& f) { return beast::iequals(text(f.name_text), name); }),
      fields_.end());
}

bool ClientHead::keep_alive() const {
  const std::string_view connection = (*this)[http::field::connection];
  http::token_list tokens(beast::string_view(connection.data(), connection.size()));
  if (version_ < kHttp11) return tokens.exists("keep-alive");
  return !tokens.exists("close");
}

}  // namespace sluice::proxy
