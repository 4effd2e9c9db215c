// libFuzzer target for the bytes a peer controls: the frame stream and every
// message decoder. Hostile input may only end in rot::error; anything else
// (a crash, a sanitizer report, another exception, a broken round trip) is a
// finding.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc
//       tests/fuzz/frame_fuzz.cpp src/frame.cpp src/codec.cpp src/term.cpp
//       src/error.cpp src/term_text.cpp -lfmt -o frame_fuzz
//   mkdir -p /tmp/frame_corpus && ./frame_fuzz -max_total_time=60 /tmp/frame_corpus
//   tests/corpus/frame
//
// (New inputs go to the first directory; keep the committed seeds small.) In
// the CMake build, rot_fuzz(frame) replays the corpus as the test frame_corpus
// (with fuzz/replay_main.cpp) and, with -DROT_FUZZ=ON, builds frame_fuzzer.
//
// The seeds in tests/corpus/frame are frames as they appear on the wire.

#include <rot/error.hpp>
#include <rot/term.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "frame.hpp"

using namespace rot;
using namespace rot::detail;

namespace {

[[noreturn]] void finding(const char* what) {
    std::fprintf(stderr, "frame_fuzz: %s\n", what);
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok) finding(what);
}

byte_vector payload_of(const byte_vector& frame) {
    return byte_vector(frame.begin() + frame_header_bytes, frame.end());
}

template <class F>
void guarded(F&& f) {
    try {
        f();
    } catch (const rot::error&) {
        // Refused: the only acceptable failure.
    }
}

void decode_all(std::span<const std::uint8_t> p) {
    guarded([&] { (void)payload_kind(p); });
    // An empty payload is refused by every decoder (frame_test "decoders
    // refuse an empty payload"); nothing more to learn from it here.
    if (p.empty()) return;

    guarded([&] {
        const hello h = decode_hello(p);
        const hello again = decode_hello(payload_of(encode_hello(h)));
        check(again.min_version == h.min_version && again.max_version == h.max_version &&
                  again.flags == h.flags && again.max_frame == h.max_frame &&
                  again.incarnation == h.incarnation && again.node == h.node &&
                  again.name == h.name &&
                  (h.max_version < 2 || (again.nonce == h.nonce && again.dead_peer_ms == h.dead_peer_ms)),
              "hello does not round-trip");
    });
    guarded([&] {
        const challenge c = decode_challenge(p);
        const challenge again = decode_challenge(payload_of(encode_challenge(c)));
        check(again.version == c.version && again.flags == c.flags && again.max_frame == c.max_frame &&
                  again.incarnation == c.incarnation && again.node == c.node && again.name == c.name &&
                  again.nonce == c.nonce && again.dead_peer_ms == c.dead_peer_ms,
              "challenge does not round-trip");
    });
    guarded([&] {
        const mac m = decode_mac(p);
        check(decode_mac(payload_of(encode_proof(m))) == m, "proof does not round-trip");
    });
    guarded([&] {
        const failure f = decode_failure(p);
        // Messages over 1024 bytes are cut by encode_refuse (possibly inside a
        // character: see frame_test "messages cut to their limit stay valid UTF-8").
        if (f.message.size() > 1024) return;
        const failure again =
            decode_failure(payload_of(encode_refuse(static_cast<errc>(f.code.value()), f.message)));
        check(again.code == f.code && again.message == f.message, "refuse does not round-trip");
    });
    guarded([&] {
        const request_view v = decode_request(p);
        const term args = from_binary(v.args);
        check(args.is_list() && args.as_list().size() == v.arity,
              "request arity differs from its argument list");
        if (v.module.empty() && v.function.empty())
            return;  // mfa needs a function to be meaningful
        const mfa m(std::string(v.module), std::string(v.function), args.as_list());
        const byte_vector again = payload_of(encode_request(v.id, m, max_frame_ceiling));
        const request_view w = decode_request(again);
        check(w.id == v.id && w.module == v.module && w.function == v.function &&
                  w.arity == v.arity && from_binary(w.args) == args,
              "request does not round-trip");
    });
    guarded([&] {
        const response_view v = decode_response(p);
        if (v.ok) {
            const term value = from_binary(v.value);
            const byte_vector again = payload_of(encode_reply(v.id, value, max_frame_ceiling));
            const response_view w = decode_response(again);
            check(w.ok && w.id == v.id && from_binary(w.value) == value,
                  "reply does not round-trip");
        } else {
            check(v.code.category() == rot::category(), "error code outside rot's category");
        }
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> in(data, size);

    // The input as a stream of frames, as a connection reads it.
    std::span<const std::uint8_t> rest = in;
    for (;;) {
        std::span<const std::uint8_t> payload;
        std::size_t used = 0;
        const auto status = parse_frame(rest, handshake_max_frame, payload, used);
        if (status != frame_status::complete) break;
        check(used >= frame_header_bytes && used <= rest.size(), "parse_frame size out of bounds");
        check(payload.size() == used - frame_header_bytes, "parse_frame payload size");
        decode_all(payload);
        rest = rest.subspan(used);
    }

    // And the whole input as one payload.
    decode_all(in);
    return 0;
}
