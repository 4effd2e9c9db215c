// The write queue with large binaries spliced in by reference (out_queue.hpp):
// whatever a socket takes of it, and whatever a close drops, the bytes that
// leave are exactly those of the frames written out by copying.

#include <doctest/doctest.h>

#include <random>

#include "frame.hpp"
#include "out_queue.hpp"

using namespace rot;
using namespace rot::detail;

namespace {

binary pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::uint8_t> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 13 + (i >> 9));
    return binary(std::move(b));
}

byte_vector flat(const out_queue& q) {
    byte_vector out;
    q.pieces([&](const std::uint8_t* p, std::size_t n) { out.insert(out.end(), p, p + n); }, SIZE_MAX);
    return out;
}

constexpr std::size_t max = 64u << 20;

// Calls, casts and replies, some holding binaries above the gather threshold
// (one at the very end of its frame, two side by side), some not.
void build(byte_vector& copied, out_queue& gathered) {
    const auto add = [&](auto&& append) {
        append(copied, nullptr);
        append(gathered.bytes, &gathered.spliced);
    };
    add([](byte_vector& o, splices* g) { append_reply(o, 1, term(pattern(gather_binary_bytes, 1)), max, g); });
    add([](byte_vector& o, splices* g) { append_request(o, 2, mfa("m", "f", {1, "x"}), max, g); });
    add([](byte_vector& o, splices* g) {
        append_request(o, 3, mfa("m", "f", {pattern(20'000, 2), pattern(30'000, 3), 7}), max, g);
    });
    add([](byte_vector& o, splices* g) { append_request(o, 0, mfa("m", "cast", {pattern(40'000, 4)}), max, g); });
    add([](byte_vector& o, splices* g) { append_reply(o, 4, term(pattern(100, 5)), max, g); });
    add([](byte_vector& o, splices* g) {
        append_reply(o, 5, rot::tuple(pattern(gather_binary_bytes - 1, 6), pattern(50'000, 7)), max, g);
    });
    add([](byte_vector& o, splices*) { append_error(o, 6, errc::badarg, "no"); });
}

}  // namespace

TEST_CASE("out_queue: gathered frames are the copied frames, byte for byte") {
    byte_vector copied;
    out_queue q;
    build(copied, q);
    CHECK(q.spliced.items.size() == 5);  // the binaries of 16 KiB and more
    CHECK(q.bytes.size() + q.spliced.bytes == copied.size());
    CHECK(q.size() == copied.size());
    CHECK(flat(q) == copied);
}

TEST_CASE("out_queue: a frame refused as too large leaves neither bytes nor splices") {
    out_queue q;
    append_reply(q.bytes, 1, term(pattern(20'000, 1)), max, &q.spliced);
    const byte_vector before = flat(q);
    CHECK_THROWS_AS(append_reply(q.bytes, 2, rot::list(pattern(20'000, 2), pattern(20'000, 3)), 30'000, &q.spliced),
                    rot::error);
    CHECK(flat(q) == before);
    CHECK(q.spliced.items.size() == 1);
    CHECK(q.size() == before.size());
}

TEST_CASE("out_queue: consumed at any offset, the rest is the rest of the stream") {
    byte_vector copied;
    out_queue q;
    build(copied, q);
    // Every offset near a piece's edge, and random ones.
    std::vector<std::size_t> offsets;
    std::size_t at = 0;
    q.pieces(
        [&](const std::uint8_t*, std::size_t n) {
            for (std::size_t d = 0; d < 3; ++d) {
                offsets.push_back(at + d);
                if (at + n >= d) offsets.push_back(at + n - d);
            }
            at += n;
        },
        SIZE_MAX);
    std::mt19937_64 rng(11);
    for (int i = 0; i < 40; ++i) offsets.push_back(rng() % copied.size());
    for (const std::size_t n : offsets) {
        if (n > copied.size()) continue;
        CAPTURE(n);
        out_queue rest = q;
        rest.consume(n);
        CHECK(rest.size() == copied.size() - n);
        CHECK(flat(rest) == byte_vector(copied.begin() + static_cast<std::ptrdiff_t>(n), copied.end()));
    }
}

TEST_CASE("out_queue: taken in random bites, as a socket would, the stream comes out whole") {
    byte_vector copied;
    out_queue q;
    build(copied, q);
    std::mt19937_64 rng(5);
    byte_vector sent;
    while (!q.empty()) {
        // What one gathering write of at most 3 pieces takes: some of it.
        byte_vector offered;
        q.pieces([&](const std::uint8_t* p, std::size_t n) { offered.insert(offered.end(), p, p + n); }, 3);
        const std::size_t took = 1 + rng() % offered.size();
        sent.insert(sent.end(), offered.begin(), offered.begin() + static_cast<std::ptrdiff_t>(took));
        q.consume(took);
    }
    CHECK(sent == copied);
    CHECK(q.spliced.bytes == 0);
}

TEST_CASE("out_queue: frames_end and filter_frames see frames as the copied stream has them") {
    byte_vector copied;
    out_queue q;
    build(copied, q);
    // The frame boundaries of the copied stream.
    std::vector<std::size_t> starts;
    for (std::size_t at = 0; at < copied.size(); at += frame_header_bytes + frame_length(copied.data() + at))
        starts.push_back(at);
    starts.push_back(copied.size());
    for (std::size_t n = 1; n <= copied.size(); n += 997) {
        const auto end = *std::lower_bound(starts.begin(), starts.end(), n);
        CHECK(q.frames_end(0, n) == end);
    }
    // Written in part: the first frame's first 1000 bytes went; the rest of
    // it stays, and of the frames after it the calls and casts are dropped.
    out_queue rest = q;
    rest.consume(1000);
    const std::size_t skip = starts[1] - 1000;
    std::vector<std::uint64_t> dropped;
    const out_queue kept = rest.filter_frames(skip, [&](std::span<const std::uint8_t> frame) {
        const auto kind = static_cast<msg>(frame[frame_header_bytes]);
        if (kind == msg::call) dropped.push_back(frame[frame_header_bytes + 1]);
        return kind != msg::call && kind != msg::cast;
    });
    CHECK(dropped == std::vector<std::uint64_t>{2, 3});
    byte_vector expected(copied.begin() + 1000, copied.begin() + static_cast<std::ptrdiff_t>(starts[1]));
    for (std::size_t i = 1; i + 1 < starts.size(); ++i) {
        const auto kind = static_cast<msg>(copied[starts[i] + frame_header_bytes]);
        if (kind != msg::call && kind != msg::cast)
            expected.insert(expected.end(), copied.begin() + static_cast<std::ptrdiff_t>(starts[i]),
                            copied.begin() + static_cast<std::ptrdiff_t>(starts[i + 1]));
    }
    CHECK(flat(kept) == expected);
    CHECK(kept.size() == expected.size());
}
