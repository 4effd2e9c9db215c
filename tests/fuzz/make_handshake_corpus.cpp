// Makes the seeds of the handshake fuzz target (tests/corpus/handshake): one
// mode byte, then frames as on the wire. Proofs and welcomes come from the
// state machines themselves, so the seeds that carry one reach the
// authenticated paths. Built and run by scripts/make-handshake-corpus, only
// when the seeds are to change: the files are committed, and the test
// handshake_corpus replays them without this program.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

#include "handshake_fuzz.hpp"

using namespace rot;
using namespace rot::detail;
using namespace rot::fuzz;

namespace {

std::filesystem::path out_dir;

byte_vector payload_of(const byte_vector& frame) {
    return byte_vector(frame.begin() + frame_header_bytes, frame.end());
}

void seed(const char* name, std::uint8_t mode, std::initializer_list<byte_vector> frames) {
    std::ofstream out(out_dir / name, std::ios::binary | std::ios::trunc);
    out.put(static_cast<char>(mode));
    for (const byte_vector& f : frames)
        out.write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size()));
    if (!out) throw std::runtime_error(std::string("cannot write ") + name);
}

/// The frame with its last byte changed: a MAC that is almost right.
byte_vector forged(byte_vector frame) {
    frame.back() ^= 1;
    return frame;
}

/// A hello frame written field by field (for the ones no dialer sends).
byte_vector raw_hello(std::uint16_t min_version, std::uint16_t max_version, const char* magic = "ROT",
                 const char* name = "cl") {
    hello h;
    h.min_version = min_version;
    h.max_version = max_version;
    h.node = "old_node";
    h.name = name;
    h.nonce = filled(0x11);
    byte_vector f = encode_hello(h);
    if (max_version < 2) f.resize(f.size() - h.nonce.size());  // a version-1 hello has no nonce
    std::copy(magic, magic + 3, f.begin() + frame_header_bytes + 1);
    const auto len = f.size() - frame_header_bytes;
    f[0] = static_cast<std::uint8_t>(len >> 24);
    f[1] = static_cast<std::uint8_t>(len >> 16);
    f[2] = static_cast<std::uint8_t>(len >> 8);
    f[3] = static_cast<std::uint8_t>(len);
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    std::filesystem::create_directories(out_dir);

    // One real conversation between the fuzz target's two sides (mode 0).
    handshake dialer = make_dialer(0);
    handshake acceptor = make_acceptor(0);
    const byte_vector hello = dialer.hello_frame();
    const byte_vector challenge = acceptor.on_frame(payload_of(hello)).send;
    const byte_vector proof = dialer.on_frame(payload_of(challenge)).send;
    const byte_vector welcome = acceptor.on_frame(payload_of(proof)).send;
    if (dialer.on_frame(payload_of(welcome)).is != handshake::status::authenticated)
        throw std::runtime_error("the conversation does not authenticate");
    const byte_vector refuse =
        encode_refuse(errc::auth_failed, "authentication failed: the cookie does not match");
    const byte_vector call = encode_request(1, mfa("rot", "node", {}), handshake_max_frame);

    // The acceptor's side (the dialer fails on the first frame).
    seed("hello.bin", 0, {hello});
    seed("hello_proof.bin", 0, {hello, proof});
    seed("hello_proof_call.bin", 0, {hello, proof, call});
    seed("hello_proof_proof.bin", 0, {hello, proof, proof});
    seed("hello_forged_proof.bin", 0, {hello, forged(proof)});
    seed("hello_helped.bin", help_acceptor, {hello, call});
    seed("hello_wrong_cookie.bin", help_acceptor | use_wrong_cookie, {hello});
    seed("hello_v1.bin", 0, {raw_hello(1, 1)});
    seed("hello_v3.bin", 0, {raw_hello(3, 4)});
    seed("hello_bad_magic.bin", 0, {raw_hello(2, 2, "RAT")});
    seed("hello_empty_name.bin", 0, {raw_hello(2, 2, "ROT", "")});
    // The dialer's side (the acceptor fails on the first frame).
    seed("challenge.bin", 0, {challenge});
    seed("challenge_welcome.bin", 0, {challenge, welcome});
    seed("challenge_welcome_welcome.bin", 0, {challenge, welcome, welcome});
    seed("challenge_forged_welcome.bin", 0, {challenge, forged(welcome)});
    seed("challenge_helped.bin", help_dialer, {challenge, refuse});
    seed("challenge_wrong_cookie.bin", help_dialer | use_wrong_cookie, {challenge});
    seed("refuse.bin", 0, {refuse});
    // The client "guest", whose cookie is another one.
    seed("hello_guest_helped.bin", help_acceptor, {make_dialer(dialer_is_guest).hello_frame()});
    seed("challenge_guest_helped.bin", dialer_is_guest | help_dialer, {challenge});
    // Both at once: the dialer skips the acceptor's two frames.
    seed("both.bin", 2 << dialer_skip_shift, {hello, proof, challenge, welcome});
    // Not frames at all.
    const std::string_view http = "GET / HTTP/1.1\r\n";
    seed("garbage.bin", 0x5a, {byte_vector(http.begin(), http.end())});
    seed("empty_frames.bin", 0, {byte_vector{0, 0, 0, 0}, byte_vector{0, 0, 0, 0}});
    seed("garbage_frame.bin", 0, {byte_vector{0, 0, 0, 8, 9, 0xff, 0x00, 0x7f, 0x80, 0xc3, 0x28, 0x01}});
    return 0;
}
