#pragma once
// Frames and the messages they carry (docs/PROTOCOL.md). A frame is a 4-byte
// big-endian payload length followed by the payload; the payload's first byte
// is the message kind. Pure functions over bytes: no sockets here.

#include <rot/error.hpp>
#include <rot/node.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "auth.hpp"
#include "codec.hpp"

namespace rot::detail {

/// Protocol versions this build speaks; the handshake picks the highest in
/// common. Version 2 authenticates both sides (version 1 did not, and is
/// refused). Later versions add heartbeats and routing.
inline constexpr std::uint16_t min_protocol_version = 2;
inline constexpr std::uint16_t max_protocol_version = 2;

/// Frames before the handshake completes are small; hostile peers get no more.
inline constexpr std::size_t handshake_max_frame = 4096;

inline constexpr std::size_t frame_header_bytes = 4;

enum class msg : std::uint8_t {
    hello = 1,    ///< dialer -> acceptor: versions, node, name, nonce
    welcome = 2,  ///< acceptor -> dialer: the acceptor's proof; the handshake is done
    refuse = 3,   ///< acceptor -> dialer: handshake refused (code, message); then close
    call = 4,     ///< request expecting a reply
    cast = 5,     ///< request without reply
    reply = 6,    ///< the value a call returned
    error = 7,    ///< the failure of a call
    goodbye = 8,  ///< orderly close (code, message)
    challenge = 9,  ///< acceptor -> dialer: chosen version, node, server name, nonce
    proof = 10,     ///< dialer -> acceptor: the dialer's proof
    ping = 11,      ///< either, after the handshake: "still here" (nothing sent for a heartbeat)
};

/// Flags of hello and challenge: what the sender's side of the connection is.
inline constexpr std::uint32_t flag_tls = 1;

enum class frame_status { complete, need_more, too_large };

/// The payload length a frame header announces (the header's 4 bytes, big-endian).
[[nodiscard]] inline std::size_t frame_length(const std::uint8_t* header) noexcept {
    return (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) | (std::size_t{header[2]} << 8) |
           std::size_t{header[3]};
}

/// Looks for one frame at the start of `buf`. On complete, `payload` is its
/// payload and `size` the bytes it occupies. A declared length over `max` is
/// too_large, decided from the header alone (nothing is allocated).
frame_status parse_frame(std::span<const std::uint8_t> buf, std::size_t max,
                         std::span<const std::uint8_t>& payload, std::size_t& size) noexcept;

/// Appends one frame to a buffer: reserve the header, write, then finish().
/// With `gather`, large binaries are left out of `out` and recorded there.
class frame_builder {
public:
    frame_builder(byte_vector& out, msg kind, splices* gather = nullptr);
    /// Unless finished, removes what was written: a frame is appended whole or not at all.
    ~frame_builder();
    frame_builder(const frame_builder&) = delete;
    frame_builder& operator=(const frame_builder&) = delete;
    writer& out() noexcept { return w_; }
    /// Patches the length. If the payload exceeds `max`, removes the frame
    /// again and throws frame_too_large.
    void finish(std::size_t max);

private:
    byte_vector& buf_;
    std::size_t start_;
    splices* gather_;
    std::size_t gather_items_ = 0;  ///< gather_'s items before this frame
    std::size_t gather_bytes_ = 0;  ///< and their bytes
    bool finished_ = false;
    writer w_{buf_, gather_};
};

struct hello {
    std::uint16_t min_version = min_protocol_version;
    std::uint16_t max_version = max_protocol_version;
    std::uint32_t flags = 0;  ///< flag_tls
    std::uint32_t max_frame = 0;
    std::uint64_t incarnation = 0;
    std::string node;  ///< the dialing node's name
    std::string name;  ///< the name the dialer goes by on this connection
    detail::nonce nonce{};  ///< the dialer's fresh random bytes
    std::uint32_t dead_peer_ms = 0;  ///< after this long without a word the dialer declares us down (0: unsaid)
};

struct challenge {
    std::uint16_t version = 0;
    std::uint32_t flags = 0;
    std::uint32_t max_frame = 0;
    std::uint64_t incarnation = 0;
    std::string node;  ///< the accepting node's name
    std::string name;  ///< the accepting server's name
    detail::nonce nonce{};  ///< the acceptor's fresh random bytes
    std::uint32_t dead_peer_ms = 0;  ///< after this long without a word the acceptor declares us down (0: unsaid)
};

/// A call or cast as it arrives: module and function are read; the arguments
/// stay encoded until the handler decodes them (after the jail is applied).
struct request_view {
    std::uint64_t id = 0;  ///< 0 for a cast
    std::string_view module;  ///< empty for {Function, Args}
    std::string_view function;
    std::uint64_t arity = 0;
    std::span<const std::uint8_t> args;  ///< the encoded argument list
};

/// A reply or an error as it arrives.
struct response_view {
    std::uint64_t id = 0;
    bool ok = true;
    std::error_code code;           ///< for errors
    std::string_view message;       ///< for errors
    std::span<const std::uint8_t> value;  ///< for replies: the encoded term
};

/// Append one frame to `out` (throwing frame_too_large, and leaving `out`
/// as it was, when over `max`)...
void append_request(byte_vector& out, std::uint64_t id, const mfa& request, std::size_t max,
                    splices* gather = nullptr);
void append_reply(byte_vector& out, std::uint64_t id, const term& value, std::size_t max, splices* gather = nullptr);
void append_error(byte_vector& out, std::uint64_t id, errc code, std::string_view message);

/// ...or build it on its own.
byte_vector encode_hello(const hello& h);
byte_vector encode_challenge(const challenge& c);
/// proof and welcome carry one MAC.
byte_vector encode_proof(const mac& m);
byte_vector encode_welcome(const mac& m);
byte_vector encode_refuse(errc code, std::string_view message);
byte_vector encode_goodbye(errc code, std::string_view message);
/// A ping: the kind byte alone.
const byte_vector& encode_ping();
/// id 0 encodes a cast.
byte_vector encode_request(std::uint64_t id, const mfa& request, std::size_t max);
byte_vector encode_reply(std::uint64_t id, const term& value, std::size_t max);
byte_vector encode_error(std::uint64_t id, errc code, std::string_view message);

/// The kind of a payload; throws protocol_error on an empty payload.
msg payload_kind(std::span<const std::uint8_t> payload);
hello decode_hello(std::span<const std::uint8_t> payload);
challenge decode_challenge(std::span<const std::uint8_t> payload);
/// The MAC of a proof or a welcome (exactly 32 bytes after the kind).
mac decode_mac(std::span<const std::uint8_t> payload);
/// refuse and goodbye carry the same (code, message).
failure decode_failure(std::span<const std::uint8_t> payload);
request_view decode_request(std::span<const std::uint8_t> payload);
response_view decode_response(std::span<const std::uint8_t> payload);

/// Maps a code read from the wire to errc, unknown codes to protocol_error.
errc wire_errc(std::uint16_t code) noexcept;
/// The errc of a failure's code; codes of other categories are protocol errors.
errc to_errc(std::error_code ec) noexcept;

}  // namespace rot::detail
