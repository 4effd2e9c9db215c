#pragma once
// The handshake as a state machine that does no I/O: feed it the frames the
// peer sends, and it answers with the frame to send back and where it stands.
// The connection moves the bytes and adds what only the node knows (whether a
// name is free, whether a nonce is one of its own).
//
//   dialer                                         acceptor
//     hello(versions, node, name, nonce_d)   --->
//                                            <---  challenge(version, node, server, nonce_a)
//     proof(HMAC(cookie, dialer, T))         --->  checks it, or refuse(auth_failed)
//                                            <---  welcome(HMAC(cookie, acceptor, T))
//     checks it
//
// T, the transcript, is the hello and the challenge as sent: both names, both
// incarnations, both nonces, the versions and flags. The cookie never crosses
// the wire; a proof is bound to the other side's fresh nonce (no replay) and
// to its role (no reflection of one side's proof as the other's).

#include <rot/error.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "auth.hpp"
#include "frame.hpp"

namespace rot::detail {

/// What a node says about itself in a handshake.
struct handshake_self {
    std::string node;
    std::uint64_t incarnation = 0;
    std::uint32_t max_frame = 0;
    std::uint32_t flags = 0;  ///< flag_tls when the connection runs in TLS
    std::uint32_t dead_peer_ms = 0;  ///< our dead-peer timeout: the peer pings often enough for it
};

/// What the handshake learnt about the other side: claims until it reports
/// authenticated, proof after.
struct peer_identity {
    std::string node;               ///< its node name
    std::uint64_t incarnation = 0;  ///< which run of that node
    std::string name;               ///< its name on this connection: client name, or server name
    std::uint64_t key_id = 0;       ///< which secret it proved (auth.hpp key_id)
    std::size_t max_frame = 0;      ///< the largest frame it accepts
    std::uint16_t version = 0;      ///< the protocol version agreed
    std::uint32_t dead_peer_ms = 0;  ///< it declares us down after this long without a word (0: unsaid)
};

class handshake {
public:
    enum class status { in_progress, authenticated, failed };
    /// What to do after a frame.
    struct step {
        status is = status::in_progress;
        byte_vector send;       ///< a frame to send now (may be empty); on failure, a refuse the peer should see
        rot::failure why;  ///< when failed
    };
    /// The secret a client of this name must prove.
    using cookie_lookup = std::function<std::string(std::string_view client)>;

    /// The dialing side: says hello as `name`, proves `cookie`.
    static handshake dialer(handshake_self self, std::string name, std::string cookie,
                            const nonce& n = random_nonce());
    /// The accepting side for server `server`.
    static handshake acceptor(handshake_self self, std::string server, cookie_lookup cookie_for,
                              const nonce& n = random_nonce());

    /// The dialer's first frame.
    [[nodiscard]] const byte_vector& hello_frame() const noexcept { return hello_frame_; }
    /// Takes one frame's payload from the peer. Malformed frames fail the
    /// handshake with protocol_error (and no frame for the peer).
    [[nodiscard]] step on_frame(std::span<const std::uint8_t> payload);

    [[nodiscard]] bool dialing() const noexcept { return dialer_; }
    [[nodiscard]] const peer_identity& peer() const noexcept { return peer_; }
    [[nodiscard]] const nonce& own_nonce() const noexcept { return own_nonce_; }
    /// The peer's nonce, once its first frame was read (zeros before).
    [[nodiscard]] const nonce& peer_nonce() const noexcept { return peer_nonce_; }

private:
    enum class stage { hello, challenge, proof, welcome, done };

    handshake(bool dialer, handshake_self self, const nonce& n);
    step on_hello(std::span<const std::uint8_t> payload);
    step on_challenge(std::span<const std::uint8_t> payload);
    step on_proof(std::span<const std::uint8_t> payload);
    step on_welcome(std::span<const std::uint8_t> payload);
    step fail(errc code, std::string message, bool tell_peer);
    [[nodiscard]] mac proof_of(std::string_view role) const;

    bool dialer_;
    handshake_self self_;
    stage stage_;
    nonce own_nonce_;
    nonce peer_nonce_{};
    std::string name_;    ///< dialer: the name we go by; acceptor: our server's name
    std::string cookie_;  ///< the secret this connection proves
    cookie_lookup cookie_for_;
    byte_vector hello_frame_;  ///< dialer: the hello, framed
    byte_vector hello_;        ///< the hello's payload, as sent
    byte_vector challenge_;    ///< the challenge's payload, as sent
    peer_identity peer_;
};

}  // namespace rot::detail
