#pragma once
// The bounds every option is checked against: by check_options() for the C++
// API, and by the config loader, which adds the file and line.

#include <rot/options.hpp>

#include <cstddef>
#include <cstdint>

namespace rot::detail {

/// Names (nodes, servers, clients, modules, functions) are Erlang atoms: at most 255 bytes.
inline constexpr std::size_t max_name_bytes = 255;
inline constexpr unsigned max_io_threads = 256;
inline constexpr unsigned max_handler_threads = 4096;
inline constexpr unsigned max_acceptors = 1024;
/// Frames are never limited below this: handshake frames must fit.
inline constexpr std::size_t min_frame_limit = 4096;
/// Far beyond any sensible timeout, and far from overflowing deadline arithmetic.
inline constexpr std::int64_t max_timeout_ms = 24 * 60 * 60 * 1000;
inline constexpr std::size_t max_requests_ceiling = 1 << 20;
inline constexpr std::size_t max_request_bytes_ceiling = std::size_t{1} << 40;
inline constexpr std::size_t max_connections_ceiling = 1 << 20;
inline constexpr std::size_t max_pool_connections = 1024;

/// Throws invalid_argument unless `name` is 1 (0 if `may_be_empty`) to 255 bytes; `what` names it.
void check_name(std::string_view name, std::string_view what, bool may_be_empty = false);

}  // namespace rot::detail
