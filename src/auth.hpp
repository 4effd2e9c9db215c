#pragma once
// The secrets behind the handshake: cookies (where a node finds its own) and
// the few primitives that prove one is known without sending it. OpenSSL
// does the cryptography; nothing here does I/O but reading the cookie file.

#include <rot/options.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace rot::detail {

/// Fresh random bytes each side contributes to a handshake.
using nonce = std::array<std::uint8_t, 32>;
/// An HMAC-SHA256.
using mac = std::array<std::uint8_t, 32>;

/// Cookies are text of 1 to this many bytes.
inline constexpr std::size_t max_cookie_bytes = 1024;

/// 32 bytes from OpenSSL's generator; throws rot::error if it has none to give.
[[nodiscard]] nonce random_nonce();

/// HMAC-SHA256 keyed by `key` over the concatenation of `parts`.
[[nodiscard]] mac hmac_sha256(std::string_view key, std::initializer_list<std::span<const std::uint8_t>> parts);

/// Compares a received MAC in constant time.
[[nodiscard]] bool same_mac(const mac& expected, std::span<const std::uint8_t> received) noexcept;

/// Names a secret without revealing it: connections that proved the same
/// secret share it (a newer incarnation replaces an older one only then).
[[nodiscard]] std::uint64_t key_id(std::string_view key);

/// Throws invalid_argument unless `cookie` is 1..max_cookie_bytes bytes; `what` names it.
void check_cookie(std::string_view cookie, std::string_view what);

/// Where a node finds its cookie, in order: options.cookie, options.cookie_file,
/// `env_cookie` (ROT_COOKIE), else `home`/.rot.cookie, created with 32 random
/// bytes (hex) and mode 0600 if missing. Throws invalid_argument with a message
/// naming the file (and its mode, for a file others may read).
[[nodiscard]] std::string resolve_cookie(const node_options& options, const char* env_cookie,
                                         const std::filesystem::path& home);

/// The user's home directory: $HOME, else the password database; empty if neither says.
[[nodiscard]] std::filesystem::path home_directory();

/// Reads a cookie file: a regular file, readable by its owner only, holding one
/// line of 1..max_cookie_bytes bytes (trailing whitespace is not part of it).
[[nodiscard]] std::string read_cookie_file(const std::filesystem::path& path);

}  // namespace rot::detail
