#pragma once
#include <string>
#include <string_view>

namespace rot::detail {
/// True when s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
[[nodiscard]] bool valid_utf8(std::string_view s) noexcept;

/// s as valid UTF-8 of at most max_bytes: bytes that do not form a valid
/// character become '?', and the cut never splits a character.
[[nodiscard]] std::string sanitize_utf8(std::string_view s, std::size_t max_bytes);
}  // namespace rot::detail
