#pragma once
#include <string_view>

namespace rot::detail {
/// True when s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
[[nodiscard]] bool valid_utf8(std::string_view s) noexcept;
}  // namespace rot::detail
