#pragma once
// The fixed world of the handshake fuzz target (handshake_fuzz.cpp), shared
// with the program that makes its seeds (make_handshake_corpus.cpp): seeds
// that carry a valid proof or welcome stay valid only while both agree.

#include <cstdint>
#include <string>
#include <string_view>

#include "handshake.hpp"

namespace rot::fuzz {

using detail::flag_tls;
using detail::handshake_self;
using detail::nonce;

// The mode byte that starts every input (handshake_fuzz.cpp says what each
// bit does); bits 5-6 are the number of frames the dialer skips.
inline constexpr std::uint8_t help_acceptor = 0x01;
inline constexpr std::uint8_t use_wrong_cookie = 0x02;
inline constexpr std::uint8_t help_dialer = 0x04;
inline constexpr std::uint8_t dialer_tls = 0x08;
inline constexpr std::uint8_t acceptor_tls = 0x10;
inline constexpr int dialer_skip_shift = 5;
inline constexpr std::uint8_t dialer_is_guest = 0x80;

inline constexpr std::string_view server_name = "srv";
inline constexpr std::string_view default_cookie = "fuzz-cookie";
// The client "guest" has a cookie of its own.
inline constexpr std::string_view guest_cookie = "guest-cookie";
inline constexpr std::string_view wrong_cookie = "not-the-cookie";
inline constexpr std::uint8_t acceptor_nonce_byte = 0xa5;
inline constexpr std::uint8_t dialer_nonce_byte = 0xd1;

/// The acceptor's cookie lookup.
inline std::string cookie_for(std::string_view client) {
    return std::string(client == "guest" ? guest_cookie : default_cookie);
}

inline nonce filled(std::uint8_t b) {
    nonce n;
    n.fill(b);
    return n;
}

inline handshake_self acceptor_self(std::uint8_t mode) {
    return {"fuzz_server_node", 0x1122334455667788, 1u << 20, (mode & acceptor_tls) ? flag_tls : 0};
}

inline handshake_self dialer_self(std::uint8_t mode) {
    return {"fuzz_client_node", 0x0102030405060708, 1u << 16, (mode & dialer_tls) ? flag_tls : 0};
}

inline std::string dialer_name(std::uint8_t mode) {
    return (mode & dialer_is_guest) ? "guest" : "cl";
}

inline detail::handshake make_acceptor(std::uint8_t mode) {
    return detail::handshake::acceptor(acceptor_self(mode), std::string(server_name), cookie_for,
                                       filled(acceptor_nonce_byte));
}

inline detail::handshake make_dialer(std::uint8_t mode) {
    const std::string name = dialer_name(mode);
    return detail::handshake::dialer(dialer_self(mode), name, cookie_for(name),
                                     filled(dialer_nonce_byte));
}

}  // namespace rot::fuzz
