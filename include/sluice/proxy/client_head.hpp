#pragma once
// A request head as the client sent it, whatever brought it (HTTP/1.x bytes through
// RequestParser, an HTTP/2 header block, an explain query): method, target and fields, kept as
// offsets into one arena. Beast's http::fields allocates a node per field and inserts it into a
// tree; for the few fields of a usual request that cost more than parsing them. The arena keeps
// its first bytes inline, so a usual head allocates nothing.

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "sluice/proxy/beast.hpp"

namespace sluice::proxy {

// Views read from a head (a value, the target) stay valid until the head is next changed, as
// with a std::string: a change may move the arena.
class ClientHead {
  struct Text {
    std::uint32_t at = 0;
    std::uint32_t size = 0;
  };
  struct Stored {
    http::field name;
    Text name_text;
    Text value;
  };

 public:
  // One field, read as Beast's fields read theirs.
  class Field {
   public:
    Field(const ClientHead& head, const Stored& stored) noexcept : head_(head), stored_(stored) {}
    [[nodiscard]] http::field name() const noexcept { return stored_.name; }
    [[nodiscard]] std::string_view name_string() const noexcept {
      return head_.text(stored_.name_text);
    }
    [[nodiscard]] std::string_view value() const noexcept { return head_.text(stored_.value); }

   private:
    const ClientHead& head_;
    const Stored& stored_;
  };

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Field;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Field;
    Iterator(const ClientHead& head, const Stored* at) noexcept : head_(&head), at_(at) {}
    Field operator*() const noexcept { return {*head_, *at_}; }
    Iterator& operator++() noexcept {
      ++at_;
      return *this;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) noexcept { return a.at_ == b.at_; }

   private:
    const ClientHead* head_;
    const Stored* at_;
  };

  ClientHead() = default;

  [[nodiscard]] unsigned version() const noexcept { return version_; }
  void version(unsigned version) noexcept { version_ = version; }
  [[nodiscard]] http::verb method() const noexcept { return method_; }
  [[nodiscard]] std::string_view method_string() const noexcept { return text(method_text_); }
  void method_string(std::string_view method);
  // Kept as parsed: Beast has read the token already, so its lookup is not made twice.
  void method(http::verb method, std::string_view text);
  [[nodiscard]] std::string_view target() const noexcept { return text(target_); }
  void target(std::string_view target) { target_ = keep(target); }

  [[nodiscard]] Iterator begin() const noexcept { return {*this, fields_.data()}; }
  [[nodiscard]] Iterator end() const noexcept { return {*this, fields_.data() + fields_.size()}; }
  [[nodiscard]] std::size_t size() const noexcept { return fields_.size(); }

  // The first field of that name; empty when there is none. By Beast's enum for the names it
  // knows; by case-insensitive text for any.
  [[nodiscard]] std::string_view operator[](http::field name) const noexcept;
  [[nodiscard]] std::string_view operator[](std::string_view name) const noexcept;
  [[nodiscard]] std::size_t count(http::field name) const noexcept;
  [[nodiscard]] std::size_t count(std::string_view name) const noexcept;

  // `name` as Beast's enum reads it (http::string_to_field), when the caller has not.
  void insert(std::string_view name, std::string_view value);
  void insert(http::field name, std::string_view name_text, std::string_view value);
  // Every field of that name replaced by one.
  void set(http::field name, std::string_view value);
  void set(std::string_view name, std::string_view value);
  void erase(http::field name) noexcept;
  void erase(std::string_view name) noexcept;

  // As Beast reads it: HTTP/1.1 unless Connection says close, HTTP/1.0 only if it says
  // keep-alive.
  [[nodiscard]] bool keep_alive() const;

 private:
  // Inline room for a usual head: a browser's request is 300–500 bytes of names and values,
  // wrk's and most API clients' under 100.
  static constexpr std::size_t kInlineBytes = 160;
  static constexpr std::size_t kInlineFields = 8;

  // Copies `s` into the arena; `s` may view the arena itself.
  Text keep(std::string_view s);
  [[nodiscard]] std::string_view text(Text t) const noexcept {
    return {arena_.data() + t.at, t.size};
  }

  boost::container::small_vector<char, kInlineBytes> arena_;
  boost::container::small_vector<Stored, kInlineFields> fields_;
  Text method_text_;
  Text target_;
  http::verb method_ = http::verb::unknown;
  unsigned version_ = kHttp11;
};

}  // namespace sluice::proxy
