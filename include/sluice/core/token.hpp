#pragma once
// RFC 9110 §5.6.2 tokens: methods, header names, request ids.

#include <string_view>

namespace sluice {

constexpr bool is_tchar(char c) noexcept {
  constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         kSpecials.find(c) != std::string_view::npos;
}

constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

}  // namespace sluice
