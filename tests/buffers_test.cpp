// Who owns the bytes: a binary received from a peer is a view of the buffer
// it arrived in (issue 11), so that buffer must live as long as any such
// binary, and must never be moved or overwritten under it. These run under
// ASan in CI (scripts/test-sanitizers): a freed or reused buffer shows there
// as a use-after-free, and everywhere as bytes that changed.

#include <rot/async.hpp>
#include <rot/rot.hpp>

#include <asio/use_future.hpp>

#include <future>
#include <cstring>
#include <mutex>
#include <thread>

#include "codec.hpp"
#include "read_chunks.hpp"
#include "support.hpp"

using namespace rot;
using namespace rot::test;

namespace {

// Bytes that say which binary they belong to: any that changed show.
binary pattern(std::size_t n, std::uint64_t seed) {
    std::vector<std::uint8_t> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((seed * 131 + i * 7 + (i >> 8)) & 0xFF);
    return binary(std::move(b));
}

// Sizes around the thresholds: copied (< 1 KiB), shared, frames larger than
// the first read buffer (16 KiB), larger than a read (64 KiB and more).
std::size_t size_for(std::uint64_t i) {
    static constexpr std::size_t sizes[] = {10, 1000, 1024, 5000, 16 * 1024, 70'000, 200'000, 3000, 64 * 1024};
    return sizes[i % std::size(sizes)];
}

}  // namespace

TEST_CASE("decoding: a large binary is a view of the buffer it came in, which it keeps alive") {
    const binary big = pattern(4096, 1);
    const binary small = pattern(100, 2);
    const auto encoded = to_binary(rot::list(big, small)).to_vector();
    auto buffer = std::make_shared<std::vector<std::uint8_t>>(encoded);
    const std::shared_ptr<const void> owner = buffer;
    term t = detail::decode_term(*buffer, owner);
    const auto& items = t.as_list();
    REQUIRE(items.size() == 2);
    const binary& got_big = items[0].as_binary();
    const binary& got_small = items[1].as_binary();
    // The large one points into the buffer; the small one was copied out.
    CHECK(got_big.data() >= buffer->data());
    CHECK(got_big.data() + got_big.size() <= buffer->data() + buffer->size());
    CHECK((got_small.data() < buffer->data() || got_small.data() >= buffer->data() + buffer->size()));
    CHECK(owner.use_count() == 3);  // ours, the buffer's and the big binary's
    // The binary outlives every other holder of the buffer.
    binary kept = got_big;
    t = term();
    buffer.reset();
    CHECK(owner.use_count() == 2);
    CHECK(kept == big);
    CHECK(binary(kept) == pattern(4096, 1));
}

TEST_CASE("read chunks come back when their last holder lets go, from any thread, and are read into again") {
    auto chunks = std::make_shared<detail::read_chunks>();
    auto a = chunks->take(70'000);
    CHECK(a.size == 70'000);
    const std::uint8_t* bytes = a.data;
    auto held = a.owner;  // a binary or a job still holds it
    a.owner.reset();
    auto b = chunks->take(70'000);
    CHECK(b.data != bytes);  // still held: not handed out again
    std::thread([h = std::move(held)]() mutable { h.reset(); }).join();
    auto c = chunks->take(60'000);
    CHECK(c.data == bytes);  // back, and big enough
    CHECK(c.size == 70'000);
    b.owner.reset();
    CHECK(chunks->take(16 * 1024).data != b.data);  // more than twice the size asked: not given
    // A chunk outlives the cache's owner (a binary kept after its connection closed).
    auto last = chunks->take(1000);
    std::memset(last.data, 7, 1000);
    chunks.reset();
    CHECK(static_cast<const std::uint8_t*>(last.owner.get())[999] == 7);
}

TEST_CASE("binary: shared copies, taken-over vectors, comparisons") {
    std::vector<std::uint8_t> v = {1, 2, 3};
    const auto* bytes = v.data();
    const binary b(std::move(v));
    CHECK(b.data() == bytes);  // taken over, not copied
    std::vector<std::uint8_t> w(100'000, 9);
    const auto* w_bytes = w.data();
    const term t(std::move(w));  // a term, too, takes a moved vector over
    CHECK(t.as_binary().data() == w_bytes);
    const binary c = b;
    CHECK(c.data() == b.data());  // copies share
    CHECK(c == binary{1, 2, 3});
    CHECK(binary{1, 2} < binary{1, 2, 3});
    CHECK(binary{2} > binary{1, 9});
    CHECK(binary().empty());
    CHECK(binary(3, 7) == binary{7, 7, 7});
    CHECK(b.to_vector() == std::vector<std::uint8_t>{1, 2, 3});
    const binary own = b.copy();  // bytes of its own
    CHECK(own.data() != b.data());
    CHECK(own == b);
    const binary part = b.slice(1);
    CHECK(part.data() == b.data() + 1);  // shares
    CHECK(part == binary{2, 3});
    CHECK(b.slice(1, 1) == binary{2});
    CHECK(b.slice(3).empty());
    CHECK_THROWS_AS((void)b.slice(4), std::out_of_range);
}

TEST_CASE("handlers keep their binary arguments while the connection reads on (inline and pool)") {
    for (const bool inline_handlers : {true, false}) {
        CAPTURE(inline_handlers);
        std::mutex m;
        std::vector<std::pair<std::uint64_t, binary>> kept;  // what handlers held on to
        node srv(test_node("srv_node"));
        srv.module("keep").def("it", [&](std::int64_t seed, const binary& b) {
            std::lock_guard lock(m);
            kept.emplace_back(static_cast<std::uint64_t>(seed), b);  // shares, does not copy
            return static_cast<std::int64_t>(b.size());
        });
        auto so = test_server("srv");
        so.inline_handlers = inline_handlers;
        const auto port = srv.start_server(so).port;
        node cl(test_node("cl_node"));
        REQUIRE(cl.connect("127.0.0.1", {.name = "cl", .port = port}, 1) == "srv");

        // Many in flight at once, so that frames share read buffers and
        // straddle them; the server reads on while handlers hold bytes.
        constexpr std::uint64_t calls = 300;
        std::vector<std::future<term>> replies;
        for (std::uint64_t i = 0; i < calls; ++i)
            replies.push_back(async_call(cl, "srv", {"keep", "it", {static_cast<std::int64_t>(i), pattern(size_for(i), i)}},
                                         10s, asio::use_future));
        for (std::uint64_t i = 0; i < calls; ++i) CHECK(replies[i].get() == term(static_cast<std::int64_t>(size_for(i))));
        cl.disconnect("srv");
        srv.stop();  // the connections and their buffers are gone: the binaries are not
        std::lock_guard lock(m);
        REQUIRE(kept.size() == calls);
        std::size_t intact = 0;
        for (const auto& [seed, b] : kept) intact += b == pattern(size_for(seed), seed);
        CHECK(intact == calls);
    }
}

TEST_CASE("results keep their binaries while the caller's connection reads on") {
    node srv(test_node("srv_node"));
    srv.module("gen").def("make", [](std::int64_t seed, std::int64_t n) {
        return pattern(static_cast<std::size_t>(n), static_cast<std::uint64_t>(seed));
    });
    const auto port = srv.start_server(test_server("srv")).port;
    std::vector<term> results;
    constexpr std::uint64_t calls = 300;
    {
        node cl(test_node("cl_node"));
        REQUIRE(cl.connect("127.0.0.1", {.name = "cl", .port = port}, 1) == "srv");
        std::vector<std::future<term>> replies;
        for (std::uint64_t i = 0; i < calls; ++i)
            replies.push_back(async_call(
                cl, "srv", {"gen", "make", {static_cast<std::int64_t>(i), static_cast<std::int64_t>(size_for(i))}}, 10s,
                asio::use_future));
        for (auto& r : replies) results.push_back(r.get());
    }  // the calling node, its connections and read buffers are gone
    std::size_t intact = 0;
    for (std::uint64_t i = 0; i < calls; ++i)
        intact += results[i].is_binary() && results[i].as_binary() == pattern(size_for(i), i);
    CHECK(intact == calls);
}

#include "raw_peer.hpp"

namespace {

// Bytes the server has queued for its connection to `peer` (0 when none).
std::size_t queued_for(const node& n, const std::string& peer) {
    for (const auto& c : n.connections())
        if (c.peer == peer) return c.bytes_queued;
    return 0;
}

}  // namespace

TEST_CASE("gathered replies under back-pressure: written in parts, whole on arrival; a close mid-write is clean") {
    for (const bool inline_handlers : {true, false}) {
        CAPTURE(inline_handlers);
        node srv(test_node("srv_node"));
        srv.module("gen").def("make", [](std::int64_t seed, std::int64_t n) {
            return pattern(static_cast<std::size_t>(n), static_cast<std::uint64_t>(seed));
        });
        auto so = test_server("srv");
        so.inline_handlers = inline_handlers;
        const auto port = srv.start_server(so).port;

        // A client that asks for 20 MB of binaries (each written from where
        // it is, by gathering) and does not read until the server is stuck:
        // its writes were taken in part by the socket, and wait.
        constexpr std::uint64_t calls = 100;
        constexpr std::int64_t size = 200'000;
        raw_client slow(port);
        slow.handshake("slow");
        byte_vector requests;
        for (std::uint64_t id = 1; id <= calls; ++id)
            append_request(requests, id, mfa("gen", "make", {static_cast<std::int64_t>(id), size}), max_frame_ceiling);
        REQUIRE_FALSE(slow.send(requests));
        REQUIRE(eventually([&] { return queued_for(srv, "slow") >= (4u << 20); }, 10s));
        std::size_t intact = 0;
        for (std::uint64_t i = 0; i < calls; ++i) {
            const response r = slow.read_response(10s);
            intact += r.ok && r.value.is_binary() && r.value.as_binary() == pattern(size, r.id);
        }
        CHECK(intact == calls);
        CHECK(eventually([&] { return queued_for(srv, "slow") == 0; }));

        // Another that goes away while its replies are stuck half-written:
        // the server lets the binaries go and serves on.
        {
            raw_client gone(port);
            gone.handshake("gone");
            REQUIRE_FALSE(gone.send(requests));
            REQUIRE(eventually([&] { return queued_for(srv, "gone") >= (4u << 20); }, 10s));
        }
        CHECK(eventually([&] { return srv.connected("gone") == 0; }));
        const response again = slow.call(calls + 1, mfa("gen", "make", {7, size}));
        CHECK((again.ok && again.value.as_binary() == pattern(size, 7)));
    }
}

TEST_CASE("after a burst, the read buffers kept to be used again go once the connection is quiet for a heartbeat") {
    auto o = test_node("srv_node");
    o.heartbeat_interval = 1s;
    o.dead_peer_timeout = 10s;
    node srv(o);
    srv.module("keep").def("size", [](const binary& b) { return static_cast<std::int64_t>(b.size()); });
    auto so = test_server("srv");
    so.inline_handlers = false;  // jobs hold their chunks: they come back to the cache
    const auto port = srv.start_server(so).port;
    node cl(test_node("cl_node"));
    REQUIRE(cl.connect("127.0.0.1", {.name = "cl", .port = port}, 1) == "srv");
    const auto buffers = [&] {
        const auto conns = srv.connections();
        return conns.empty() ? std::size_t{0} : conns.front().read_buffer_bytes;
    };
    CHECK(buffers() > 0);
    std::vector<std::future<term>> replies;
    for (std::int64_t i = 0; i < 64; ++i)
        replies.push_back(async_call(cl, "srv", {"keep", "size", {pattern(70'000, static_cast<std::uint64_t>(i))}}, 10s,
                                     asio::use_future));
    for (auto& r : replies) CHECK(r.get() == term(std::int64_t{70'000}));
    // One chunk is at most a frame and 4 KiB (~74 KB here): more than that
    // is chunks kept to read into again, which go after a quiet second.
    constexpr std::size_t one_chunk = 80'000;
    CHECK(eventually([&] { return buffers() > one_chunk; }, 900ms));
    CHECK(eventually([&] { return buffers() < one_chunk; }, 5s));
}
