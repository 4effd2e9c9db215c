// Frames and messages (src/frame.hpp) as pure functions over bytes: framing,
// every message's round trip and exact layout, and hostile payloads, which
// must be refused with rot::error(protocol_error) and never crash.

#include <doctest/doctest.h>

#include <rot/rot.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "frame.hpp"

using namespace rot;
using namespace rot::detail;

namespace {

constexpr std::size_t four_mib = 4u << 20;

std::span<const std::uint8_t> as_span(const byte_vector& b) {
    return {b.data(), b.size()};
}

/// The payload of a whole frame (the bytes after its 4-byte header).
byte_vector payload_of(const byte_vector& frame) {
    REQUIRE(frame.size() >= frame_header_bytes);
    return byte_vector(frame.begin() + frame_header_bytes, frame.end());
}

/// Copies of every strict prefix of `payload`, each in its own allocation so
/// that a decoder reading past the end is caught by ASan.
std::vector<byte_vector> prefixes(const byte_vector& payload) {
    std::vector<byte_vector> out;
    for (std::size_t n = 0; n < payload.size(); ++n)
        out.emplace_back(payload.begin(), payload.begin() + n);
    return out;
}

/// Runs `f`; passes if it succeeds or throws rot::error, fails on anything else.
template <class F>
bool decodes_or_refuses(F&& f) {
    try {
        f();
    } catch (const rot::error&) {
    } catch (const std::exception& e) {
        FAIL_CHECK("unexpected exception: " << e.what());
        return false;
    } catch (...) {
        FAIL_CHECK("unexpected non-std exception");
        return false;
    }
    return true;
}

/// The code of the rot::error `f` throws, or an empty code if it returns.
/// Any other exception fails the test.
template <class F>
std::error_code thrown(F&& f) {
    try {
        f();
    } catch (const rot::error& e) {
        return e.code();
    } catch (const std::exception& e) {
        FAIL_CHECK("unexpected exception: " << e.what());
        return make_error_code(errc::exception);
    }
    return {};
}

std::string hex(const byte_vector& b) {
    std::string s;
    for (std::size_t i = 0; i < b.size(); ++i) s += fmt::format("{}{:02x}", i ? " " : "", b[i]);
    return s;
}

/// splitmix64: a fixed, portable sequence, so failures reproduce from the seed.
struct rng {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

nonce counting_nonce(std::uint8_t from) {
    nonce n;
    for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::uint8_t>(from + i);
    return n;
}

hello sample_hello() {
    hello h;
    h.min_version = 1;
    h.max_version = 3;
    h.flags = 0xA1B2C3D4;
    h.max_frame = 123456;
    h.incarnation = 0x0102030405060708ull;
    h.node = "nœud@hôte";
    h.name = "cl";
    h.nonce = counting_nonce(1);
    h.dead_peer_ms = 45000;
    return h;
}

challenge sample_challenge() {
    challenge c;
    c.version = 2;
    c.flags = 7;
    c.max_frame = four_mib;
    c.incarnation = 0xFFFFFFFFFFFFFFFFull;
    c.node = "node1";
    c.name = "srv";
    c.nonce = counting_nonce(100);
    c.dead_peer_ms = 15000;
    return c;
}

mac sample_mac() {
    mac m;
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<std::uint8_t>(0xA0 + i);
    return m;
}

mfa sample_call() {
    return {"math",
            "add",
            {1, -2.5, atom("x"), "str", binary{0, 255}, tuple(1, 2), list(), map({{1, 2}})}};
}

/// One payload of every message kind, valid.
std::vector<byte_vector> valid_payloads() {
    return {
        payload_of(encode_hello(sample_hello())),
        payload_of(encode_challenge(sample_challenge())),
        payload_of(encode_proof(sample_mac())),
        payload_of(encode_welcome(sample_mac())),
        payload_of(encode_refuse(errc::name_conflict, "go away")),
        payload_of(encode_goodbye(errc::stopped, "bye")),
        payload_of(encode_request(7, sample_call(), four_mib)),
        payload_of(encode_request(0, sample_call(), four_mib)),
        payload_of(encode_request(300, {"f", {}}, four_mib)),
        payload_of(encode_reply(1u << 20, map({{atom("a"), list(1, 2.0, "x")}}), four_mib)),
        payload_of(encode_error(99, errc::undef, "undefined function m:f/1")),
    };
}

/// A payload written field by field, bypassing the message encoders.
template <class F>
byte_vector hand_built(msg kind, F&& body) {
    byte_vector out;
    {
        frame_builder f(out, kind);
        body(f.out());
        f.finish(four_mib);
    }
    return payload_of(out);
}

/// Every decoder on one payload; each may succeed or throw rot::error only.
void decode_everything(std::span<const std::uint8_t> p) {
    decodes_or_refuses([&] { (void)payload_kind(p); });
    // decode_hello/welcome/failure expect a non-empty payload (see the test
    // "decoders refuse an empty payload"); callers check payload_kind first.
    if (!p.empty()) {
        decodes_or_refuses([&] { (void)decode_hello(p); });
        decodes_or_refuses([&] { (void)decode_challenge(p); });
        decodes_or_refuses([&] { (void)decode_mac(p); });
        decodes_or_refuses([&] { (void)decode_failure(p); });
    }
    decodes_or_refuses([&] {
        const auto v = decode_request(p);
        (void)from_binary(v.args);
    });
    decodes_or_refuses([&] {
        const auto v = decode_response(p);
        if (v.ok) (void)from_binary(v.value);
    });
}

}  // namespace

// --- Framing ---------------------------------------------------------------

TEST_CASE("parse_frame: fewer than 4 header bytes need more") {
    const byte_vector bytes{0, 0, 0, 1, 9};
    for (std::size_t n = 0; n < frame_header_bytes; ++n) {
        std::span<const std::uint8_t> payload;
        std::size_t size = 12345;
        CHECK(parse_frame({bytes.data(), n}, four_mib, payload, size) == frame_status::need_more);
        CHECK(size == 12345);  // untouched
        CHECK(payload.empty());
    }
}

TEST_CASE("parse_frame: an exact frame, and an empty one") {
    const byte_vector bytes{0, 0, 0, 3, 7, 8, 9};
    std::span<const std::uint8_t> payload;
    std::size_t size = 0;
    REQUIRE(parse_frame(as_span(bytes), four_mib, payload, size) == frame_status::complete);
    CHECK(size == 7);
    CHECK(byte_vector(payload.begin(), payload.end()) == byte_vector{7, 8, 9});
    CHECK(payload.data() == bytes.data() + 4);  // a view, not a copy

    const byte_vector empty{0, 0, 0, 0};
    REQUIRE(parse_frame(as_span(empty), four_mib, payload, size) == frame_status::complete);
    CHECK(size == 4);
    CHECK(payload.empty());
    // An empty payload is a frame; it is payload_kind that refuses it.
    CHECK(thrown([&] { (void)payload_kind(payload); }) == errc::protocol_error);
}

TEST_CASE("parse_frame: several frames back to back, then a partial one") {
    byte_vector stream;
    std::vector<byte_vector> frames{encode_goodbye(errc::stopped, "a"),
                               encode_reply(1, term(1), four_mib),
                               encode_request(2, {"m", "f", {1, 2, 3}}, four_mib)};
    for (const auto& f : frames) stream.insert(stream.end(), f.begin(), f.end());
    stream.insert(stream.end(), {0, 0, 0, 5, 1, 2});  // 2 of 5 payload bytes

    std::span<const std::uint8_t> rest = as_span(stream);
    for (const auto& f : frames) {
        std::span<const std::uint8_t> payload;
        std::size_t size = 0;
        REQUIRE(parse_frame(rest, four_mib, payload, size) == frame_status::complete);
        CHECK(size == f.size());
        CHECK(byte_vector(payload.begin(), payload.end()) == payload_of(f));
        rest = rest.subspan(size);
    }
    std::span<const std::uint8_t> payload;
    std::size_t size = 0;
    CHECK(parse_frame(rest, four_mib, payload, size) == frame_status::need_more);
}

TEST_CASE("parse_frame: a frame truncated at every offset needs more") {
    const byte_vector frame = encode_request(42, sample_call(), four_mib);
    for (std::size_t n = 0; n < frame.size(); ++n) {
        const byte_vector part(frame.begin(), frame.begin() + n);
        std::span<const std::uint8_t> payload;
        std::size_t size = 0;
        CHECK_MESSAGE(
            parse_frame(as_span(part), four_mib, payload, size) == frame_status::need_more,
            "offset " << n);
    }
    std::span<const std::uint8_t> payload;
    std::size_t size = 0;
    CHECK(parse_frame(as_span(frame), four_mib, payload, size) == frame_status::complete);
}

TEST_CASE("parse_frame: an oversized length is too_large from the header alone") {
    std::span<const std::uint8_t> payload;
    std::size_t size = 0;
    const byte_vector huge{0xFF, 0xFF, 0xFF, 0xFF};
    CHECK(parse_frame(as_span(huge), four_mib, payload, size) == frame_status::too_large);
    const byte_vector one_over{0x00, 0x40, 0x00, 0x01};  // 4 MiB + 1
    CHECK(parse_frame(as_span(one_over), four_mib, payload, size) == frame_status::too_large);
    const byte_vector just_max{0x00, 0x40, 0x00, 0x00};  // exactly 4 MiB: allowed, body still to come
    CHECK(parse_frame(as_span(just_max), four_mib, payload, size) == frame_status::need_more);
    // The handshake limit: 4096 is fine, 4097 is not.
    const byte_vector hs_max{0x00, 0x00, 0x10, 0x00};
    CHECK(parse_frame(as_span(hs_max), handshake_max_frame, payload, size) ==
          frame_status::need_more);
    const byte_vector hs_over{0x00, 0x00, 0x10, 0x01};
    CHECK(parse_frame(as_span(hs_over), handshake_max_frame, payload, size) ==
          frame_status::too_large);
    // "GET " read as a length.
    const std::string http = "GET / HTTP/1.1\r\n\r\n";
    const byte_vector get(http.begin(), http.end());
    CHECK(parse_frame(as_span(get), handshake_max_frame, payload, size) == frame_status::too_large);
}

TEST_CASE("parse_frame: a frame of exactly max bytes is complete") {
    byte_vector frame{0, 0, 0, 16};
    frame.resize(4 + 16, 0xAB);
    std::span<const std::uint8_t> payload;
    std::size_t size = 0;
    CHECK(parse_frame(as_span(frame), 16, payload, size) == frame_status::complete);
    CHECK(size == 20);
    CHECK(parse_frame(as_span(frame), 15, payload, size) == frame_status::too_large);
}

TEST_CASE("a frame that fails half-way is removed whole") {
    byte_vector out{1, 2, 3};
    CHECK_THROWS_AS(append_request(out, 7, mfa(std::string(300, 'm'), "f", {}), four_mib), rot::error);
    CHECK(out == byte_vector{1, 2, 3});
    append_request(out, 7, mfa("m", "f", {}), four_mib);
    CHECK(out.size() > 3);
}

TEST_CASE("frame_builder writes a big-endian length and refuses payloads over max") {
    const auto build = [](std::size_t body, std::size_t max) {
        byte_vector out{0xEE};  // frames append after what the buffer holds
        frame_builder f(out, msg::reply);
        const byte_vector filler(body, 0x5A);
        f.out().bytes(filler.data(), filler.size());
        try {
            f.finish(max);
        } catch (...) {
            CHECK(out == byte_vector{0xEE});  // a refused frame leaves nothing behind
            throw;
        }
        return byte_vector(out.begin() + 1, out.end());
    };
    const byte_vector exact = build(0x1234 - 1, 0x1234);  // payload = kind byte + body
    CHECK(exact.size() == 4 + 0x1234);
    CHECK(byte_vector(exact.begin(), exact.begin() + 5) == byte_vector{0x00, 0x00, 0x12, 0x34, 6});

    try {
        (void)build(100, 100);
        FAIL("no exception");
    } catch (const rot::error& e) {
        CHECK(e.code() == errc::frame_too_large);
        CHECK(e.message() == "message of 101 bytes exceeds the frame limit of 100 bytes");
    }
    // Through the encoders too.
    CHECK(thrown([] {
              (void)encode_request(1, {"m", "f", {std::string(5000, 'x')}}, 4096);
          }) == errc::frame_too_large);
    CHECK(thrown([] { (void)encode_reply(1, std::string(5000, 'x'), 4096); }) ==
          errc::frame_too_large);
    CHECK(thrown([] {
              hello h;
              h.node = std::string(255, 'n');
              h.name = std::string(255, 'n');
              (void)encode_hello(h);
          }) == std::error_code{});  // hellos with the longest names fit the handshake limit
}

// --- Round trips and layouts ---------------------------------------------------

TEST_CASE("hello: round trip and exact layout") {
    const hello h = sample_hello();
    const byte_vector frame = encode_hello(h);
    const byte_vector p = payload_of(frame);
    CHECK(payload_kind(p) == msg::hello);
    const hello d = decode_hello(p);
    CHECK(d.min_version == h.min_version);
    CHECK(d.max_version == h.max_version);
    CHECK(d.flags == h.flags);
    CHECK(d.max_frame == h.max_frame);
    CHECK(d.incarnation == h.incarnation);
    CHECK(d.node == h.node);
    CHECK(d.name == h.name);
    CHECK(d.nonce == h.nonce);
    CHECK(d.dead_peer_ms == h.dead_peer_ms);

    hello small;
    small.incarnation = 0x1122334455667788ull;
    small.max_frame = 0x00400000;
    small.node = "n";
    small.name = "cl";
    small.nonce = counting_nonce(0);
    small.dead_peer_ms = 60000;
    CHECK(hex(encode_hello(small)) ==
          "00 00 00 41 01 52 4f 54 02 00 02 00 00 00 00 00 00 00 40 00 "
          "88 77 66 55 44 33 22 11 01 6e 02 63 6c "
          "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f "
          "60 ea 00 00");

    // Version 2 ignores fields a later version may append.
    byte_vector longer = p;
    longer.insert(longer.end(), {1, 2, 3});
    CHECK(decode_hello(longer).name == "cl");

    // A version-1 hello (no nonce) is read, so that it can be refused with its versions.
    const byte_vector v1 = hand_built(msg::hello, [](writer& w) {
        w.bytes("ROT", 3);
        w.u16(1);
        w.u16(1);
        w.u32(0);
        w.u32(4096);
        w.u64(9);
        w.short_str("old");
        w.short_str("cl");
    });
    CHECK(decode_hello(v1).max_version == 1);
    // One that offers version 2 must carry its nonce.
    byte_vector v2 = payload_of(encode_hello(small));
    v2.resize(v2.size() - 32);
    CHECK(thrown([&] { (void)decode_hello(v2); }) == errc::protocol_error);
}

TEST_CASE("challenge: round trip and exact layout") {
    const challenge c = sample_challenge();
    const byte_vector p = payload_of(encode_challenge(c));
    CHECK(payload_kind(p) == msg::challenge);
    const challenge d = decode_challenge(p);
    CHECK(d.version == c.version);
    CHECK(d.flags == c.flags);
    CHECK(d.max_frame == c.max_frame);
    CHECK(d.incarnation == c.incarnation);
    CHECK(d.node == c.node);
    CHECK(d.name == c.name);
    CHECK(d.nonce == c.nonce);
    CHECK(d.dead_peer_ms == c.dead_peer_ms);

    challenge small;
    small.version = 2;
    small.max_frame = 4096;
    small.incarnation = 2;
    small.node = "a";
    small.name = "b";
    small.nonce = counting_nonce(0);
    small.dead_peer_ms = 1000;
    CHECK(hex(encode_challenge(small)) ==
          "00 00 00 3b 09 02 00 00 00 00 00 00 10 00 00 02 00 00 00 00 00 00 00 01 61 01 62 "
          "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f "
          "e8 03 00 00");
}

TEST_CASE("ping: the kind byte alone") {
    CHECK(hex(encode_ping()) == "00 00 00 01 0b");
    CHECK(payload_kind(payload_of(encode_ping())) == msg::ping);
}

TEST_CASE("proof and welcome: one MAC each, nothing else") {
    const byte_vector proof = encode_proof(sample_mac());
    CHECK(hex(proof).starts_with("00 00 00 21 0a a0 a1 a2"));
    CHECK(decode_mac(payload_of(proof)) == sample_mac());
    const byte_vector welcome = encode_welcome(sample_mac());
    CHECK(hex(welcome).starts_with("00 00 00 21 02 a0 a1 a2"));
    CHECK(decode_mac(payload_of(welcome)) == sample_mac());
    byte_vector longer = payload_of(proof);
    longer.push_back(0);
    CHECK(thrown([&] { (void)decode_mac(longer); }) == errc::protocol_error);
}

TEST_CASE("refuse and goodbye: round trip and layout; long messages are cut") {
    const byte_vector refuse = encode_refuse(errc::name_conflict, "go away");
    CHECK(hex(refuse) == "00 00 00 0b 03 0a 00 07 67 6f 20 61 77 61 79");
    const failure f = decode_failure(payload_of(refuse));
    CHECK(f.code == errc::name_conflict);
    CHECK(f.message == "go away");

    const byte_vector bye = encode_goodbye(errc::stopped, "");
    CHECK(payload_kind(payload_of(bye)) == msg::goodbye);
    CHECK(hex(bye) == "00 00 00 04 08 0c 00 00");
    CHECK(decode_failure(payload_of(bye)).code == errc::stopped);

    const failure cut =
        decode_failure(payload_of(encode_goodbye(errc::timeout, std::string(5000, 'z'))));
    CHECK(cut.message == std::string(1024, 'z'));
}

TEST_CASE("call and cast: round trips through decode_request") {
    const mfa m = sample_call();
    const byte_vector call = payload_of(encode_request(7, m, four_mib));
    CHECK(payload_kind(call) == msg::call);
    const request_view v = decode_request(call);
    CHECK(v.id == 7);
    CHECK(v.module == "math");
    CHECK(v.function == "add");
    CHECK(v.arity == m.args.size());
    CHECK(from_binary(v.args) == term::make_list(m.args));

    const byte_vector cast = payload_of(encode_request(0, m, four_mib));
    CHECK(payload_kind(cast) == msg::cast);
    const request_view c = decode_request(cast);
    CHECK(c.id == 0);
    CHECK(c.module == "math");
    CHECK(c.arity == m.args.size());
    CHECK(from_binary(c.args) == term::make_list(m.args));

    // {Function, Args}: an empty module; a large id takes a multi-byte varint.
    const byte_vector f_payload = payload_of(encode_request(1ull << 40, {"f", {}}, four_mib));
    const request_view f = decode_request(f_payload);
    CHECK(f.id == 1ull << 40);
    CHECK(f.module.empty());
    CHECK(f.function == "f");
    CHECK(f.arity == 0);
    CHECK(decode_request(payload_of(encode_request(~0ull, {"m", "f", {}}, four_mib))).id == ~0ull);
}

TEST_CASE("the worked example of docs/PROTOCOL.md: {math, add, [1, 2]} and its reply") {
    const byte_vector call = encode_request(1, {"math", "add", {1, 2}}, four_mib);
    CHECK(hex(call) == "00 00 00 11 04 01 04 6d 61 74 68 03 61 64 64 06 02 01 02 01 04");
    const byte_vector reply = encode_reply(1, term(3), four_mib);
    CHECK(hex(reply) == "00 00 00 04 06 01 01 06");
    const byte_vector err = encode_error(2, errc::undef, "undefined function math:add/3");
    CHECK(hex(err) ==
          "00 00 00 22 07 02 04 00 1d 75 6e 64 65 66 69 6e 65 64 20 66 75 6e 63 74 69 6f 6e 20 "
          "6d 61 74 68 3a 61 64 64 2f 33");
    const byte_vector cast = encode_request(0, {"log", "info", {"hi"}}, four_mib);
    CHECK(hex(cast) == "00 00 00 10 05 03 6c 6f 67 04 69 6e 66 6f 06 01 07 02 68 69");
}

TEST_CASE("reply and error: round trips through decode_response") {
    const term value = map({{atom("a"), list(1, 2.5, "x", binary{1, 2})}, {tuple(), -7}});
    const byte_vector reply = payload_of(encode_reply(300, value, four_mib));
    CHECK(payload_kind(reply) == msg::reply);
    const response_view r = decode_response(reply);
    CHECK(r.ok);
    CHECK(r.id == 300);
    CHECK(from_binary(r.value) == value);

    const byte_vector error = payload_of(encode_error(5, errc::exception, "exception in m:f/0: boom"));
    CHECK(payload_kind(error) == msg::error);
    const response_view e = decode_response(error);
    CHECK_FALSE(e.ok);
    CHECK(e.id == 5);
    CHECK(e.code == errc::exception);
    CHECK(e.message == "exception in m:f/0: boom");

    const byte_vector long_error = payload_of(encode_error(5, errc::exception, std::string(70000, 'q')));
    const response_view cut = decode_response(long_error);
    CHECK(cut.message.size() <= 65536);  // cut by the sender
    CHECK(cut.message == std::string(cut.message.size(), 'q'));
}

TEST_CASE("every error code survives the wire; unknown codes become protocol_error") {
    for (int c = 1; c <= static_cast<int>(last_errc); ++c) {
        CHECK(wire_errc(static_cast<std::uint16_t>(c)) == static_cast<errc>(c));
        CHECK(decode_failure(payload_of(encode_refuse(static_cast<errc>(c), "m"))).code ==
              static_cast<errc>(c));
        CHECK(decode_response(payload_of(encode_error(1, static_cast<errc>(c), "m"))).code ==
              static_cast<errc>(c));
    }
    for (const int c : {0, static_cast<int>(last_errc) + 1, 999, 0xFFFF}) {
        CHECK(wire_errc(static_cast<std::uint16_t>(c)) == errc::protocol_error);
        CHECK(decode_failure(payload_of(encode_goodbye(static_cast<errc>(c), "m"))).code ==
              errc::protocol_error);
        const byte_vector p = payload_of(encode_error(1, static_cast<errc>(c), "m"));
        const auto e = decode_response(p);
        CHECK(e.code == errc::protocol_error);
        CHECK(e.message == "m");
    }
    // The numbers themselves are part of the protocol.
    CHECK(static_cast<int>(errc::timeout) == 1);
    CHECK(static_cast<int>(errc::undef) == 4);
    CHECK(static_cast<int>(errc::protocol_error) == 8);
    CHECK(static_cast<int>(errc::version_mismatch) == 9);
    CHECK(static_cast<int>(errc::name_conflict) == 10);
    CHECK(static_cast<int>(errc::frame_too_large) == 11);
    CHECK(static_cast<int>(errc::disconnected) == 18);
    CHECK(static_cast<int>(errc::auth_failed) == 19);
    CHECK(static_cast<int>(errc::tls_failed) == 20);
    CHECK(static_cast<int>(errc::not_sent) == 21);
}

// --- Hostile payloads ----------------------------------------------------------

TEST_CASE("every decoder refuses a payload truncated at every offset") {
    // Offset 0 (the empty payload) is its own test below.
    const auto refused = [](auto decode, const byte_vector& full) {
        for (const auto& part : prefixes(full)) {
            if (part.empty()) continue;
            CHECK_MESSAGE(thrown([&] { decode(part); }) == errc::protocol_error,
                          "prefix of " << part.size());
        }
    };
    refused([](const byte_vector& p) { (void)decode_hello(p); },
            payload_of(encode_hello(sample_hello())));
    refused([](const byte_vector& p) { (void)decode_challenge(p); },
            payload_of(encode_challenge(sample_challenge())));
    refused([](const byte_vector& p) { (void)decode_mac(p); }, payload_of(encode_proof(sample_mac())));
    refused([](const byte_vector& p) { (void)decode_failure(p); },
            payload_of(encode_refuse(errc::undef, "msg")));
    refused([](const byte_vector& p) { (void)decode_failure(p); },
            payload_of(encode_goodbye(errc::stopped, "msg")));
    refused([](const byte_vector& p) { (void)decode_response(p); },
            payload_of(encode_error(9, errc::undef, "msg")));

    // A request's header is checked by decode_request, its argument list by
    // from_binary when the handler runs: together they refuse every prefix.
    const auto request = [](const byte_vector& p) {
        const auto v = decode_request(p);
        (void)from_binary(v.args);
    };
    refused(request, payload_of(encode_request(7, sample_call(), four_mib)));
    refused(request, payload_of(encode_request(0, sample_call(), four_mib)));
    const auto response = [](const byte_vector& p) {
        const auto v = decode_response(p);
        if (v.ok) (void)from_binary(v.value);
    };
    refused(response, payload_of(encode_reply(300, list(1, "two", atom("three")), four_mib)));
}

TEST_CASE("decoders refuse an empty payload") {
    // The bytes after the empty payload form a valid hello/welcome/refuse
    // body: a decoder that reads past the end of its span would accept them.
    for (const byte_vector& frame : {encode_hello(sample_hello()), encode_challenge(sample_challenge()),
                                encode_welcome(sample_mac()), encode_refuse(errc::undef, "x")}) {
        const byte_vector backing = payload_of(frame);
        const std::span<const std::uint8_t> empty(backing.data(), 0);
        CHECK(thrown([&] { (void)payload_kind(empty); }) == errc::protocol_error);
        CHECK(thrown([&] { (void)decode_request(empty); }) == errc::protocol_error);
        CHECK(thrown([&] { (void)decode_response(empty); }) == errc::protocol_error);
        const auto kind = static_cast<msg>(backing[0]);
        if (kind == msg::hello)
            CHECK(thrown([&] { (void)decode_hello(empty); }) == errc::protocol_error);
        if (kind == msg::challenge)
            CHECK(thrown([&] { (void)decode_challenge(empty); }) == errc::protocol_error);
        if (kind == msg::welcome)
            CHECK(thrown([&] { (void)decode_mac(empty); }) == errc::protocol_error);
        if (kind == msg::refuse)
            CHECK(thrown([&] { (void)decode_failure(empty); }) == errc::protocol_error);
    }
}

TEST_CASE("hello: bad magic is refused") {
    byte_vector p = payload_of(encode_hello(sample_hello()));
    for (std::size_t i = 1; i <= 3; ++i) {
        byte_vector bad = p;
        bad[i] ^= 0x20;  // "rOT", "RoT", "ROt"
        CHECK(thrown([&] { (void)decode_hello(bad); }) == errc::protocol_error);
    }
    try {
        byte_vector bad = p;
        bad[1] = 'X';
        (void)decode_hello(bad);
        FAIL("no exception");
    } catch (const rot::error& e) {
        CHECK(e.message().find("bad magic") != std::string::npos);
    }
    // An HTTP request is not a hello either.
    const std::string http = "\x01GET / HTTP/1.1\r\n\r\n";
    CHECK(thrown([&] { (void)decode_hello(byte_vector(http.begin(), http.end())); }) ==
          errc::protocol_error);
}

TEST_CASE("invalid UTF-8 in names and messages is refused") {
    for (const std::string bad :
         {"\xff", "a\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "caf\xc3"}) {
        CAPTURE(bad);
        hello h = sample_hello();
        h.node = bad;
        CHECK(thrown([&] { (void)decode_hello(payload_of(encode_hello(h))); }) ==
              errc::protocol_error);
        h = sample_hello();
        h.name = bad;
        CHECK(thrown([&] { (void)decode_hello(payload_of(encode_hello(h))); }) ==
              errc::protocol_error);

        challenge c = sample_challenge();
        c.node = bad;
        CHECK(thrown([&] { (void)decode_challenge(payload_of(encode_challenge(c))); }) ==
              errc::protocol_error);
        c = sample_challenge();
        c.name = bad;
        CHECK(thrown([&] { (void)decode_challenge(payload_of(encode_challenge(c))); }) ==
              errc::protocol_error);

        // Built by hand: what matters is what the decoder does with such bytes.
        const byte_vector refuse = hand_built(msg::refuse, [&](writer& w) {
            w.u16(static_cast<std::uint16_t>(errc::undef));
            w.str(bad);
        });
        CHECK(thrown([&] { (void)decode_failure(refuse); }) == errc::protocol_error);
        const byte_vector error = hand_built(msg::error, [&](writer& w) {
            w.varint(1);
            w.u16(static_cast<std::uint16_t>(errc::undef));
            w.str(bad);
        });
        CHECK(thrown([&] { (void)decode_response(error); }) == errc::protocol_error);
        CHECK(thrown([&] {
                  (void)decode_request(payload_of(encode_request(1, {bad, "f", {}}, four_mib)));
              }) == errc::protocol_error);
        CHECK(thrown([&] {
                  (void)decode_request(payload_of(encode_request(0, {"m", bad, {}}, four_mib)));
              }) == errc::protocol_error);
    }
}

TEST_CASE("requests: call id 0, args that are not a list, counts larger than the bytes") {
    const auto build = [](msg kind, auto&& body) { return hand_built(kind, body); };
    const byte_vector id0 = build(msg::call, [](writer& w) {
        w.varint(0);
        w.short_str("m");
        w.short_str("f");
        w.write_list({});
    });
    CHECK(thrown([&] { (void)decode_request(id0); }) == errc::protocol_error);

    const byte_vector tuple_args = build(msg::call, [](writer& w) {
        w.varint(1);
        w.short_str("m");
        w.short_str("f");
        w.write_term(tuple(1, 2));
    });
    CHECK(thrown([&] { (void)decode_request(tuple_args); }) == errc::protocol_error);

    const byte_vector no_args = build(msg::cast, [](writer& w) {
        w.short_str("m");
        w.short_str("f");
    });
    CHECK(thrown([&] { (void)decode_request(no_args); }) == errc::protocol_error);

    // A list claiming a million elements in four bytes: refused before anything is allocated.
    const byte_vector liar = build(msg::call, [](writer& w) {
        w.varint(1);
        w.short_str("m");
        w.short_str("f");
        w.u8(static_cast<std::uint8_t>(tag::list));
        w.varint(1000000);
        w.u32(0x01010101);
    });
    CHECK(thrown([&] { (void)decode_request(liar); }) == errc::protocol_error);
    // ... and one whose count fits the bytes but whose elements are garbage:
    // decode_request takes the arity, from_binary refuses the arguments.
    const byte_vector garbage_args = build(msg::call, [](writer& w) {
        w.varint(1);
        w.short_str("m");
        w.short_str("f");
        w.u8(static_cast<std::uint8_t>(tag::list));
        w.varint(2);
        w.u32(0xFFFFFFFF);
    });
    const request_view v = decode_request(garbage_args);
    CHECK(v.arity == 2);
    CHECK(thrown([&] { (void)from_binary(v.args); }) == errc::protocol_error);

    // Trailing bytes after the list are refused with the arguments.
    byte_vector trailing = payload_of(encode_request(1, {"m", "f", {1}}, four_mib));
    trailing.push_back(0);
    CHECK(thrown([&] { (void)from_binary(decode_request(trailing).args); }) ==
          errc::protocol_error);

    // A varint id of 11 bytes, and one overflowing 64 bits.
    byte_vector long_id{static_cast<std::uint8_t>(msg::call)};
    long_id.insert(long_id.end(), 11, 0x80);
    CHECK(thrown([&] { (void)decode_request(long_id); }) == errc::protocol_error);
    byte_vector overflow{static_cast<std::uint8_t>(msg::call)};
    overflow.insert(overflow.end(), 9, 0xFF);  // 63 bits of ones, then a 10th byte of 2
    overflow.push_back(0x02);
    CHECK(thrown([&] { (void)decode_request(overflow); }) == errc::protocol_error);

    // Nesting past max_term_depth inside the arguments.
    byte_vector deep = build(msg::call, [](writer& w) {
        w.varint(1);
        w.short_str("m");
        w.short_str("f");
        w.u8(static_cast<std::uint8_t>(tag::list));
        w.varint(1);
        for (int i = 0; i < max_term_depth + 5; ++i) {
            w.u8(static_cast<std::uint8_t>(tag::list));
            w.varint(1);
        }
        w.u8(static_cast<std::uint8_t>(tag::integer));
        w.varint(0);
    });
    CHECK(thrown([&] { (void)from_binary(decode_request(deep).args); }) == errc::protocol_error);
}

TEST_CASE("responses: malformed errors and replies") {
    // An error with a message length beyond the payload.
    const byte_vector liar{static_cast<std::uint8_t>(msg::error), 1, 4, 0, 0x7F, 'a'};
    CHECK(thrown([&] { (void)decode_response(liar); }) == errc::protocol_error);
    // An error with trailing bytes.
    byte_vector trailing = payload_of(encode_error(1, errc::undef, "m"));
    trailing.push_back('!');
    CHECK(thrown([&] { (void)decode_response(trailing); }) == errc::protocol_error);
    // A refuse with trailing bytes.
    byte_vector refuse = payload_of(encode_refuse(errc::undef, "m"));
    refuse.push_back('!');
    CHECK(thrown([&] { (void)decode_failure(refuse); }) == errc::protocol_error);
    // A reply whose value is a non-finite float or an unknown tag.
    const byte_vector nan{static_cast<std::uint8_t>(msg::reply), 1, 2, 0, 0, 0, 0, 0, 0, 0xF8, 0x7F};
    CHECK(thrown([&] { (void)from_binary(decode_response(nan).value); }) == errc::protocol_error);
    const byte_vector unknown_tag{static_cast<std::uint8_t>(msg::reply), 1, 42, 0};
    CHECK(thrown([&] { (void)from_binary(decode_response(unknown_tag).value); }) ==
          errc::protocol_error);
}

TEST_CASE("messages cut to their limit stay valid UTF-8") {
    // encode_refuse/goodbye keep 1024 bytes of the message, encode_error 65536.
    // Cutting inside a multi-byte character must not make the peer refuse the
    // whole frame as invalid UTF-8 (it would close the connection instead of
    // reporting the error).
    const std::string refuse_message =
        std::string(1023, 'a') + "\xc3\xa9tranger";  // "é" spans 1023..1024
    const byte_vector refuse = payload_of(encode_refuse(errc::name_conflict, refuse_message));
    const auto ec = thrown([&] { (void)decode_failure(refuse); });
    CHECK(ec == std::error_code{});
    if (!ec) {
        const failure f = decode_failure(refuse);
        CHECK(f.code == errc::name_conflict);
        CHECK(f.message.starts_with(std::string(1023, 'a')));
    }

    const std::string error_message =
        std::string(65535, 'b') + "\xe2\x82\xac";  // "€" spans 65535..65537
    CHECK(thrown([&] {
              (void)decode_response(payload_of(encode_error(1, errc::exception, error_message)));
          }) == std::error_code{});
}

TEST_CASE("an error frame fits under the smallest frame limit") {
    // encode_error promises errors stay "under any frame limit"; the smallest
    // a node may set (max_frame_bytes) is handshake_max_frame.
    const byte_vector frame = encode_error(~0ull, errc::exception, std::string(70000, 'e'));
    CHECK(frame.size() - frame_header_bytes <= handshake_max_frame);
}

TEST_CASE("error messages that are not UTF-8 still arrive as errors") {
    // A handler's exception text is arbitrary bytes (a Latin-1 path, a
    // binary blob); the error frame carrying it must still decode on the
    // other side, or the caller's whole connection is closed.
    const std::string latin1 = "cannot open /tmp/caf\xe9";
    CHECK(thrown([&] {
              (void)decode_response(payload_of(encode_error(1, errc::exception, latin1)));
          }) == std::error_code{});
}

TEST_CASE("pseudo-random garbage either decodes or throws rot::error") {
    for (std::uint64_t seed = 0; seed < 3000; ++seed) {
        rng r{seed};
        byte_vector p(r.below(48));
        for (auto& b : p) b = static_cast<std::uint8_t>(r.next());
        // Bias the kind byte towards real kinds so the decoders get past it.
        if (!p.empty() && r.below(4) != 0) p[0] = static_cast<std::uint8_t>(1 + r.below(8));
        CAPTURE(seed);
        decode_everything(p);
    }
}

TEST_CASE("valid messages with random bytes changed either decode or throw rot::error") {
    const auto payloads = valid_payloads();
    for (std::uint64_t seed = 0; seed < 3000; ++seed) {
        rng r{seed};
        byte_vector p = payloads[r.below(payloads.size())];
        const std::size_t flips = 1 + r.below(4);
        for (std::size_t i = 0; i < flips; ++i) {
            switch (r.below(3)) {
                case 0:
                    p[r.below(p.size())] = static_cast<std::uint8_t>(r.next());
                    break;
                case 1:
                    p[r.below(p.size())] ^= static_cast<std::uint8_t>(1u << r.below(8));
                    break;
                default:
                    p.resize(1 + r.below(p.size()));
                    break;
            }
        }
        CAPTURE(seed);
        decode_everything(p);

        // And as a stream of frames: whatever the header says, parse_frame stays in bounds.
        byte_vector stream = encode_request(seed + 1, {"m", "f", {1}}, four_mib);
        stream.insert(stream.end(), p.begin(), p.end());
        std::span<const std::uint8_t> rest = as_span(stream);
        for (int i = 0; i < 64; ++i) {
            std::span<const std::uint8_t> payload;
            std::size_t size = 0;
            if (parse_frame(rest, handshake_max_frame, payload, size) != frame_status::complete)
                break;
            REQUIRE(size <= rest.size());
            decode_everything(payload);
            rest = rest.subspan(size);
        }
    }
}
