#pragma once
// Minimal logging to stderr. The level comes from ROT_LOG (debug, info,
// warning, error, none); the default is warning.

#include <fmt/format.h>

#include <functional>
#include <string_view>

namespace rot::detail {

enum class log_level { debug, info, warning, error, none };

[[nodiscard]] log_level current_log_level() noexcept;
void set_log_level(log_level level) noexcept;
void write_log(log_level level, std::string_view node, std::string_view message);

/// Where log lines go instead of stderr (tests count them); an empty function restores stderr.
using log_sink = std::function<void(log_level, std::string_view node, std::string_view message)>;
void set_log_sink(log_sink sink);

template <class... Args>
void log(log_level level, std::string_view node, fmt::format_string<Args...> f, Args&&... args) {
    if (level < current_log_level()) return;
    write_log(level, node, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace rot::detail
