// libFuzzer target for the handshake state machine (src/handshake.hpp): the
// first frames of a connection, which anyone who can reach a port controls.
//
// The input is one mode byte, then frames as on the wire (parse_frame with
// handshake_max_frame; the stream ends at the first incomplete or oversized
// one). The frames go, in order, to an acceptor (fixed nonce, fixed cookie
// lookup) and, separately, to a dialer (after its hello_frame()). Whatever
// they hold:
//   - on_frame answers with a step: no exception escapes it;
//   - once a step is authenticated or failed, every later step is failed;
//   - what a side sends is one complete frame of at most handshake_max_frame
//     bytes, of the kind its role and status call for, and it decodes: a
//     challenge, a welcome or a refuse (acceptor), a proof (dialer);
//   - a side's first answer follows the protocol (version picked or refused,
//     empty names refused, a refuse's code passed on);
//   - a side authenticates exactly when the frame it took is the MAC that the
//     honest other side, holding the right cookie, computes over this
//     transcript. The harness asks a second state machine for that MAC where
//     it can: when the fuzzed hello (challenge) is byte for byte one that an
//     honest dialer (acceptor) sends. Elsewhere a side must not authenticate
//     at all: the fuzzer cannot compute HMAC-SHA256 (the MACs are compared
//     with CRYPTO_memcmp, which gives it no comparison to learn from).
// Anything else (a crash, a sanitizer report, a broken invariant) is a finding.
//
// The mode byte lets the fuzzer reach the paths that need a MAC:
//   0x01  the honest dialer answers the acceptor's challenge: its proof goes
//         to the acceptor before the next fuzzed frame (and the welcome back
//         to it), so any hello an honest dialer could send leads to
//         authenticated and beyond;
//   0x02  ...with a wrong cookie: the acceptor must refuse (auth_failed), and
//         the honest side must fail on that; applies to 0x04 as well;
//   0x04  the honest acceptor answers the dialer's proof (welcome, or refuse);
//   0x08  the dialer says it runs in TLS (flag_tls); 0x10 the acceptor does;
//   0x60  how many frames (0-3) the dialer skips, so that one input can hold
//         both conversations (hello, proof for the acceptor; challenge,
//         welcome for the dialer);
//   0x80  the dialer goes by "guest", whose cookie is another one.
//
// The fixed names, cookies and nonces are in handshake_fuzz.hpp. The seeds
// that carry a MAC stop reaching authenticated if the transcript changes (not
// a finding: the harness asks the same code), so remake them then. The CMake
// build replays tests/corpus/handshake as the test handshake_corpus
// (fuzz/replay_main.cpp) and, with -DROT_FUZZ=ON, builds handshake_fuzzer;
// scripts/fuzz runs it. scripts/make-handshake-corpus makes the seeds.

#include <rot/error.hpp>
#include <rot/options.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "handshake_fuzz.hpp"

using namespace rot;
using namespace rot::detail;
using namespace rot::fuzz;

namespace {

using bytes = std::span<const std::uint8_t>;
using status = handshake::status;

[[noreturn]] void finding(std::string_view who, std::string_view what) {
    std::fprintf(stderr, "handshake_fuzz: %.*s: %.*s\n", static_cast<int>(who.size()), who.data(),
                 static_cast<int>(what.size()), what.data());
    std::abort();
}

void check(bool ok, std::string_view who, std::string_view what) {
    if (!ok) finding(who, what);
}

bool same(bytes a, bytes b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

/// The payload of the one frame a side sent: complete, within the handshake's
/// limit, nothing after it.
bytes sent_payload(const byte_vector& frame, std::string_view who) {
    bytes payload;
    std::size_t used = 0;
    check(parse_frame(frame, handshake_max_frame, payload, used) == frame_status::complete &&
              used == frame.size(),
          who, "sent something that is not one complete frame within handshake_max_frame");
    check(!payload.empty(), who, "sent an empty frame");
    return payload;
}

msg kind_sent(const byte_vector& frame, std::string_view who) {
    return static_cast<msg>(sent_payload(frame, who)[0]);
}

/// Decodes or says why not (the harness's own reading of fuzzed frames).
template <class T, class F>
std::optional<T> try_decode(F&& decode) {
    try {
        return decode();
    } catch (const rot::error&) {
        return std::nullopt;
    }
}

/// A state machine and the invariants that hold over its steps.
struct machine {
    handshake hs;
    std::string_view who;
    bool over = false;  ///< it reported authenticated or failed

    handshake::step take(bytes payload) {
        handshake::step s;
        try {
            s = hs.on_frame(payload);
        } catch (const std::exception& e) {
            finding(who, std::string("on_frame threw: ") + e.what());
        } catch (...) {
            finding(who, "on_frame threw something that is not an exception");
        }
        check(!over || s.is == status::failed, who,
              "a step after authenticated or failed is not failed");
        over = over || s.is != status::in_progress;

        if (s.is == status::failed) {
            check(s.why.code && s.why.code.category() == rot::category(), who,
                  "failed without an error code of rot's category");
            if (!s.send.empty()) {
                check(kind_sent(s.send, who) == msg::refuse, who,
                      "failed and sent something other than a refuse");
                const failure f = decode_failure(sent_payload(s.send, who));
                check(f.code == s.why.code, who,
                      "the refuse it sent carries another code than its failure");
            }
        } else {
            check(!s.why.code, who, "an error code on a step that did not fail");
        }
        if (s.is == status::authenticated) {
            const peer_identity& p = hs.peer();
            check(p.version >= min_protocol_version && p.version <= max_protocol_version, who,
                  "authenticated with a version this build does not speak");
            check(p.max_frame >= handshake_max_frame && p.max_frame <= max_frame_ceiling, who,
                  "authenticated with a frame limit out of bounds");
            check(!p.name.empty(), who, "authenticated an empty name");
        }
        return s;
    }
};

std::vector<bytes> frames_of(bytes in) {
    std::vector<bytes> frames;
    for (;;) {
        bytes payload;
        std::size_t used = 0;
        if (parse_frame(in, handshake_max_frame, payload, used) != frame_status::complete)
            return frames;
        frames.push_back(payload);
        in = in.subspan(used);
    }
}

// --- Acceptor ---------------------------------------------------------------

/// The dialer that sends exactly `hello` (proving `cookie`), if there is one:
/// a hello with other versions or with bytes after the nonce has none.
std::optional<handshake> dialer_behind(bytes hello_payload, std::string cookie) {
    const hello h = decode_hello(hello_payload);  // the acceptor took it
    handshake d = handshake::dialer({h.node, h.incarnation, h.max_frame, h.flags}, h.name,
                                    std::move(cookie), h.nonce);
    if (!same(sent_payload(d.hello_frame(), "honest dialer"), hello_payload)) return std::nullopt;
    return d;
}

/// The first answer an acceptor owes a frame, by the protocol.
void check_first_answer(bytes frame, const handshake::step& s, std::uint8_t mode) {
    constexpr std::string_view who = "acceptor";
    const auto h = try_decode<hello>([&] { return decode_hello(frame); });
    if (frame.empty() || static_cast<msg>(frame[0]) != msg::hello || !h) {
        check(s.is == status::failed && s.why.code == errc::protocol_error && s.send.empty(), who,
              "a first frame that is not a hello must fail with protocol_error, telling the peer "
              "nothing");
        return;
    }
    const auto version = std::min(h->max_version, max_protocol_version);
    if (version < std::max(h->min_version, min_protocol_version)) {
        check(s.is == status::failed && s.why.code == errc::version_mismatch && !s.send.empty(),
              who, "a hello without a version in common must be refused with version_mismatch");
        return;
    }
    if (h->name.empty()) {
        check(s.is == status::failed && s.why.code == errc::invalid_argument && !s.send.empty(),
              who, "a hello with an empty name must be refused with invalid_argument");
        return;
    }
    check(s.is == status::in_progress && kind_sent(s.send, who) == msg::challenge, who,
          "a good hello must be answered with a challenge");
    const challenge c = decode_challenge(sent_payload(s.send, who));
    const handshake_self self = acceptor_self(mode);
    check(c.version == version && c.flags == self.flags && c.max_frame == self.max_frame &&
              c.incarnation == self.incarnation && c.node == self.node && c.name == server_name &&
              c.nonce == filled(acceptor_nonce_byte),
          who, "the challenge does not say what the acceptor is");
}

void run_acceptor(std::uint8_t mode, const std::vector<bytes>& frames) {
    machine a{make_acceptor(mode), "acceptor"};
    std::optional<byte_vector> good_proof;  // the one proof the acceptor may take next
    bool first = true;

    // Every frame the acceptor sees, the fuzzer's and the honest dialer's.
    const auto take = [&](bytes frame) {
        const bool is_good = good_proof && same(frame, *good_proof);
        good_proof.reset();
        handshake::step s = a.take(frame);
        if (first) check_first_answer(frame, s, mode);
        first = false;
        check(s.is != status::authenticated || is_good, "acceptor",
              "authenticated a proof no honest dialer made");
        check(s.is == status::authenticated || !is_good, "acceptor",
              "did not take the honest dialer's proof");
        if (s.is == status::authenticated) {
            check(kind_sent(s.send, "acceptor") == msg::welcome, "acceptor",
                  "authenticated without sending a welcome");
            check(a.hs.peer().key_id == key_id(cookie_for(a.hs.peer().name)), "acceptor",
                  "authenticated with another key than the client's cookie");
        }
        return s;
    };

    for (const bytes frame : frames) {
        const handshake::step s = take(frame);
        if (s.is != status::in_progress) continue;

        // It took `frame` as a hello and sent a challenge: ask the dialer that
        // says this hello for its proof.
        const bytes challenge_sent = sent_payload(s.send, "acceptor");
        std::optional<handshake> honest = dialer_behind(frame, cookie_for(a.hs.peer().name));
        if (!honest) continue;
        const handshake::step p = honest->on_frame(challenge_sent);
        check(p.is == status::in_progress && kind_sent(p.send, "honest dialer") == msg::proof,
              "honest dialer", "does not prove itself to the acceptor's challenge");
        const bytes proof = sent_payload(p.send, "honest dialer");
        (void)decode_mac(proof);
        good_proof.emplace(proof.begin(), proof.end());
        if (!(mode & help_acceptor)) continue;

        if (mode & use_wrong_cookie) {
            std::optional<handshake> impostor = dialer_behind(frame, std::string(wrong_cookie));
            const handshake::step q = impostor->on_frame(challenge_sent);
            const handshake::step r = take(sent_payload(q.send, "impostor"));
            check(r.is == status::failed && r.why.code == errc::auth_failed && !r.send.empty(),
                  "acceptor", "a proof made with a wrong cookie must be refused with auth_failed");
            const handshake::step t = impostor->on_frame(sent_payload(r.send, "acceptor"));
            check(t.is == status::failed && t.why.code == errc::auth_failed, "impostor",
                  "the acceptor's refuse does not fail the dialer with auth_failed");
        } else {
            const handshake::step r = take(proof);
            const handshake::step t = honest->on_frame(sent_payload(r.send, "acceptor"));
            check(t.is == status::authenticated && t.send.empty(), "honest dialer",
                  "does not take the acceptor's welcome");
            const handshake_self self = acceptor_self(mode);
            const peer_identity& q = honest->peer();
            check(q.name == server_name && q.node == self.node && q.incarnation == self.incarnation,
                  "honest dialer", "authenticated someone other than the acceptor");
        }
    }
}

// --- Dialer -----------------------------------------------------------------

/// The acceptor that sends exactly `challenge` to the dialer's hello, with a
/// lookup that answers `cookie`, if there is one.
std::optional<handshake> acceptor_behind(bytes challenge_payload, bytes hello_payload,
                                         std::string cookie) {
    const challenge c = decode_challenge(challenge_payload);  // the dialer took it
    handshake a = handshake::acceptor(
        {c.node, c.incarnation, c.max_frame, c.flags}, c.name,
        [cookie](std::string_view) { return cookie; }, c.nonce);
    const handshake::step s = a.on_frame(hello_payload);
    check(s.is == status::in_progress, "honest acceptor", "does not take the dialer's hello");
    if (!same(sent_payload(s.send, "honest acceptor"), challenge_payload)) return std::nullopt;
    return a;
}

/// The first answer a dialer owes a frame, by the protocol.
void check_first_answer(bytes frame, const handshake::step& s) {
    constexpr std::string_view who = "dialer";
    const msg kind = frame.empty() ? msg{0} : static_cast<msg>(frame[0]);
    if (kind == msg::refuse) {
        if (const auto f = try_decode<failure>([&] { return decode_failure(frame); })) {
            check(s.is == status::failed && s.why.code == f->code, who,
                  "a refuse must fail it with the refuse's code");
            return;
        }
    }
    const auto c = try_decode<challenge>([&] { return decode_challenge(frame); });
    if (kind != msg::challenge || !c) {
        check(
            s.is == status::failed && s.why.code == errc::protocol_error, who,
            "a first frame that is neither a challenge nor a refuse must fail with protocol_error");
    } else if (c->version < min_protocol_version || c->version > max_protocol_version) {
        check(s.is == status::failed && s.why.code == errc::version_mismatch, who,
              "a challenge with a version it does not speak must fail with version_mismatch");
    } else if (c->name.empty()) {
        check(s.is == status::failed && s.why.code == errc::protocol_error, who,
              "a challenge with an empty server name must fail with protocol_error");
    } else {
        check(s.is == status::in_progress && kind_sent(s.send, who) == msg::proof, who,
              "a good challenge must be answered with a proof");
    }
}

void run_dialer(std::uint8_t mode, std::span<const bytes> frames) {
    const std::string name = dialer_name(mode);
    const std::string cookie = cookie_for(name);
    const handshake_self self = dialer_self(mode);
    machine d{make_dialer(mode), "dialer"};

    check(kind_sent(d.hs.hello_frame(), "dialer") == msg::hello, "dialer",
          "its first frame is not a hello");
    const bytes hello_payload = sent_payload(d.hs.hello_frame(), "dialer");
    const hello h = decode_hello(hello_payload);
    check(h.min_version == min_protocol_version && h.max_version == max_protocol_version &&
              h.flags == self.flags && h.max_frame == self.max_frame &&
              h.incarnation == self.incarnation && h.node == self.node && h.name == name &&
              h.nonce == filled(dialer_nonce_byte),
          "dialer", "the hello does not say what the dialer is");

    std::optional<byte_vector> good_welcome;  // the one welcome the dialer may take next
    bool first = true;

    const auto take = [&](bytes frame) {
        const bool is_good = good_welcome && same(frame, *good_welcome);
        const bool was_over = d.over;
        good_welcome.reset();
        handshake::step s = d.take(frame);
        if (first) check_first_answer(frame, s);
        first = false;
        // A refuse may come at any point of the handshake.
        if (!was_over && !frame.empty() && static_cast<msg>(frame[0]) == msg::refuse)
            if (const auto f = try_decode<failure>([&] { return decode_failure(frame); }))
                check(s.is == status::failed && s.why.code == f->code, "dialer",
                      "a refuse must fail it with the refuse's code");
        check(s.is != status::authenticated || is_good, "dialer",
              "authenticated a welcome no honest acceptor made");
        check(s.is == status::authenticated || !is_good, "dialer",
              "did not take the honest acceptor's welcome");
        if (s.is == status::authenticated) {
            check(s.send.empty(), "dialer", "sent something after the welcome");
            check(d.hs.peer().key_id == key_id(cookie), "dialer",
                  "authenticated with another key than its cookie");
        }
        if (s.is == status::failed)
            check(s.send.empty(), "dialer", "sent a frame on failing (only acceptors refuse)");
        return s;
    };

    for (const bytes frame : frames) {
        const handshake::step s = take(frame);
        if (s.is != status::in_progress) continue;

        // It took `frame` as a challenge and sent a proof: ask the acceptor
        // that says this challenge what it answers.
        const bytes proof = sent_payload(s.send, "dialer");
        (void)decode_mac(proof);
        std::optional<handshake> honest = acceptor_behind(frame, hello_payload, cookie);
        if (!honest) continue;
        const handshake::step w = honest->on_frame(proof);
        check(w.is == status::authenticated, "honest acceptor", "does not take the dialer's proof");
        const bytes welcome = sent_payload(w.send, "honest acceptor");
        good_welcome.emplace(welcome.begin(), welcome.end());
        if (!(mode & help_dialer)) continue;

        if (mode & use_wrong_cookie) {
            std::optional<handshake> stranger =
                acceptor_behind(frame, hello_payload, std::string(wrong_cookie));
            const handshake::step r = stranger->on_frame(proof);
            check(r.is == status::failed && r.why.code == errc::auth_failed && !r.send.empty(),
                  "stranger", "a proof of another cookie must be refused with auth_failed");
            const handshake::step t = take(sent_payload(r.send, "stranger"));
            check(t.is == status::failed && t.why.code == errc::auth_failed, "dialer",
                  "the refuse does not fail it with auth_failed");
        } else {
            const handshake::step t = take(welcome);
            const peer_identity& p = d.hs.peer();
            const challenge c = decode_challenge(frame);
            check(t.is == status::authenticated && p.name == c.name && p.node == c.node &&
                      p.incarnation == c.incarnation,
                  "dialer",
                  "the honest welcome does not authenticate the acceptor that sent the challenge");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t mode = data[0];
    const std::vector<bytes> frames = frames_of(bytes(data + 1, size - 1));
    const std::size_t skip = std::min<std::size_t>((mode >> dialer_skip_shift) & 3, frames.size());
    try {
        run_acceptor(mode, frames);
        run_dialer(mode, std::span(frames).subspan(skip));
    } catch (const std::exception& e) {
        // on_frame's own exceptions are caught in machine::take: this is a
        // frame a machine sent that does not decode, or a machine that cannot
        // be built.
        finding("harness", e.what());
    }
    return 0;
}
