#include "handshake.hpp"

#include <algorithm>
#include <cstring>

namespace rot::detail {

namespace {
// What each proof says: the same transcript, told apart by the prover's role,
// so that neither side's proof can be passed off as the other's.
constexpr std::string_view dialer_role = "rot/2 dialer proof";
constexpr std::string_view acceptor_role = "rot/2 acceptor proof";

std::span<const std::uint8_t> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size() + 1};  // with its NUL: no label is a prefix of another
}

std::array<std::uint8_t, 4> length_of(const byte_vector& b) {
    const auto n = static_cast<std::uint32_t>(b.size());
    return {static_cast<std::uint8_t>(n), static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n >> 16),
            static_cast<std::uint8_t>(n >> 24)};
}

byte_vector payload_of(const byte_vector& frame) { return byte_vector(frame.begin() + frame_header_bytes, frame.end()); }

std::size_t clamp_frame(std::uint32_t announced) {
    return std::clamp<std::size_t>(announced, handshake_max_frame, max_frame_ceiling);
}
}  // namespace

handshake::handshake(bool dialer, handshake_self self, const nonce& n)
    : dialer_(dialer), self_(std::move(self)), stage_(dialer ? stage::challenge : stage::hello), own_nonce_(n) {}

handshake handshake::dialer(handshake_self self, std::string name, std::string cookie, const nonce& n) {
    handshake h(true, std::move(self), n);
    h.name_ = std::move(name);
    h.cookie_ = std::move(cookie);
    h.peer_.key_id = key_id(h.cookie_);
    hello m;
    m.flags = h.self_.flags;
    m.max_frame = h.self_.max_frame;
    m.incarnation = h.self_.incarnation;
    m.node = h.self_.node;
    m.name = h.name_;
    m.nonce = h.own_nonce_;
    m.dead_peer_ms = h.self_.dead_peer_ms;
    h.hello_frame_ = encode_hello(m);
    h.hello_ = payload_of(h.hello_frame_);
    return h;
}

handshake handshake::acceptor(handshake_self self, std::string server, cookie_lookup cookie_for, const nonce& n) {
    handshake h(false, std::move(self), n);
    h.name_ = std::move(server);
    h.cookie_for_ = std::move(cookie_for);
    return h;
}

handshake::step handshake::on_frame(std::span<const std::uint8_t> payload) {
    try {
        const msg kind = payload_kind(payload);
        // A refuse may come at any point of a dialer's handshake.
        if (dialer_ && kind == msg::refuse) {
            const failure f = decode_failure(payload);
            stage_ = stage::done;
            return {status::failed, {}, {f.code, "refused: " + f.message}};
        }
        const auto expect = [&](msg want, std::string_view what) {
            if (kind != want) throw error(errc::protocol_error, fmt::format("expected {}", what));
        };
        switch (stage_) {
            case stage::hello: expect(msg::hello, "a hello"); return on_hello(payload);
            case stage::challenge: expect(msg::challenge, "a challenge"); return on_challenge(payload);
            case stage::proof: expect(msg::proof, "a proof"); return on_proof(payload);
            case stage::welcome: expect(msg::welcome, "a welcome"); return on_welcome(payload);
            case stage::done: break;
        }
        throw error(errc::protocol_error, "the handshake is over");
    } catch (const rot::error& e) {
        return fail(e.code() == errc::auth_failed ? errc::auth_failed : errc::protocol_error, e.message(), false);
    }
}

handshake::step handshake::fail(errc code, std::string message, bool tell_peer) {
    stage_ = stage::done;
    step s{status::failed, {}, {make_error_code(code), std::move(message)}};
    if (tell_peer) s.send = encode_refuse(code, s.why.message);
    return s;
}

mac handshake::proof_of(std::string_view role) const {
    const auto hello_length = length_of(hello_);
    const auto challenge_length = length_of(challenge_);
    return hmac_sha256(cookie_, {bytes_of(role), hello_length, hello_, challenge_length, challenge_});
}

// --- Acceptor ------------------------------------------------------------------

handshake::step handshake::on_hello(std::span<const std::uint8_t> payload) {
    const hello h = decode_hello(payload);
    const std::uint16_t version = std::min(h.max_version, max_protocol_version);
    if (version < std::max(h.min_version, min_protocol_version))
        return fail(errc::version_mismatch,
                    fmt::format("no protocol version in common: client speaks {}..{}, server speaks {}..{}",
                                h.min_version, h.max_version, min_protocol_version, max_protocol_version),
                    true);
    if (h.name.empty()) return fail(errc::invalid_argument, "empty connection name", true);
    peer_ = {h.node, h.incarnation, h.name, 0, clamp_frame(h.max_frame), version, h.dead_peer_ms};
    peer_nonce_ = h.nonce;
    cookie_ = cookie_for_(h.name);
    peer_.key_id = key_id(cookie_);
    hello_.assign(payload.begin(), payload.end());

    challenge c;
    c.version = version;
    c.flags = self_.flags;
    c.max_frame = self_.max_frame;
    c.incarnation = self_.incarnation;
    c.node = self_.node;
    c.name = name_;
    c.nonce = own_nonce_;
    c.dead_peer_ms = self_.dead_peer_ms;
    byte_vector frame = encode_challenge(c);
    challenge_ = payload_of(frame);
    stage_ = stage::proof;
    return {status::in_progress, std::move(frame), {}};
}

handshake::step handshake::on_proof(std::span<const std::uint8_t> payload) {
    if (!same_mac(proof_of(dialer_role), decode_mac(payload)))
        return fail(errc::auth_failed, "authentication failed: the cookie does not match", true);
    stage_ = stage::done;
    return {status::authenticated, encode_welcome(proof_of(acceptor_role)), {}};
}

// --- Dialer --------------------------------------------------------------------

handshake::step handshake::on_challenge(std::span<const std::uint8_t> payload) {
    const challenge c = decode_challenge(payload);
    if (c.version < min_protocol_version || c.version > max_protocol_version)
        return fail(errc::version_mismatch,
                    fmt::format("server chose protocol version {}, this node speaks {}..{}", c.version,
                                min_protocol_version, max_protocol_version),
                    false);
    if (c.name.empty()) throw error(errc::protocol_error, "challenge with an empty server name");
    peer_ = {c.node, c.incarnation, c.name, peer_.key_id, clamp_frame(c.max_frame), c.version, c.dead_peer_ms};
    peer_nonce_ = c.nonce;
    challenge_.assign(payload.begin(), payload.end());
    stage_ = stage::welcome;
    return {status::in_progress, encode_proof(proof_of(dialer_role)), {}};
}

handshake::step handshake::on_welcome(std::span<const std::uint8_t> payload) {
    if (!same_mac(proof_of(acceptor_role), decode_mac(payload)))
        return fail(errc::auth_failed,
                    fmt::format("authentication failed: server {} (node {}) does not know our cookie", peer_.name,
                                peer_.node),
                    false);
    stage_ = stage::done;
    return {status::authenticated, {}, {}};
}

}  // namespace rot::detail
