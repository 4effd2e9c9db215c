// Limits that hold against peers that have passed the handshake: frames that
// trickle in or stop, replies nobody reads, more connections or handshakes
// than a server takes, an accept loop out of descriptors, and options that
// would leave a node unable to work.

#include <sys/resource.h>

#include <filesystem>
#include <set>

#include "log.hpp"
#include "node_impl.hpp"
#include "raw_peer.hpp"
#include "server.hpp"

using namespace rot;
using namespace rot::detail;
using namespace rot::test;

namespace {

// Memory figures mean little under a sanitizer (shadow memory, quarantined
// frees): there the tests check the structural bounds only.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool measure_memory = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool measure_memory = false;
#else
constexpr bool measure_memory = true;
#endif
#else
constexpr bool measure_memory = true;
#endif

constexpr std::int64_t mib = 1 << 20;

/// Waits until f() has not changed for `quiet` (bounded by `limit`) and
/// returns its last value: for states that end without telling anyone.
template <class F>
auto settled(F&& f, std::chrono::milliseconds quiet = 300ms, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    auto last = f();
    auto since = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);  // polling interval, not an ordering
        auto now = f();
        if (now != last) {
            last = now;
            since = std::chrono::steady_clock::now();
        } else if (std::chrono::steady_clock::now() - since >= quiet) {
            break;
        }
    }
    return last;
}

connection_info info_of(node& n, std::string_view peer) {
    for (const auto& c : n.connections())
        if (c.peer == peer) return c;
    return {};
}

}  // namespace

// --- Frames that trickle in, or stop ------------------------------------------------

TEST_CASE("100 peers that announce 4 MiB frames and send one byte cost the node little memory") {
    served_node s;
    const auto before = resident_bytes();
    std::vector<std::unique_ptr<raw_client>> slow;
    for (int i = 0; i < 100; ++i) {
        slow.push_back(std::make_unique<raw_client>(s.port));
        slow.back()->handshake(fmt::format("slow{}", i));
        // A header announcing 4 MiB (the limit), then the first byte of the body.
        REQUIRE_FALSE(slow.back()->send(byte_vector{0x00, 0x40, 0x00, 0x00, static_cast<std::uint8_t>(msg::call)}));
    }
    REQUIRE(eventually([&] { return s.srv.connected().size() == 101; }));
    s.good_client_still_served();  // a round trip: the bytes above have been read
    const auto grown = resident_bytes() - before;
    MESSAGE("resident memory grew by " << grown / 1024 << " KiB for 100 slow peers");
    if (measure_memory) CHECK(grown < 64 * mib);
}

TEST_CASE("a frame that stops coming is closed after stalled_frame_timeout; one that keeps coming is not") {
    node_options o = test_node("server");
    o.stalled_frame_timeout = 1s;
    served_node s(o);
    raw_client stalled(s.port);
    stalled.handshake("stalled");
    raw_client trickle(s.port);
    trickle.handshake("trickle");
    const byte_vector call = encode_request(1, {"math", "add", {40, 2}}, max_frame_ceiling);

    const auto started = std::chrono::steady_clock::now();
    REQUIRE_FALSE(stalled.send(byte_vector(call.begin(), call.begin() + 6)));
    // The other sends its frame a byte every 100 ms: slow, but never stalled.
    for (const std::uint8_t b : call) {
        REQUIRE_FALSE(trickle.send(byte_vector{b}));
        std::this_thread::sleep_for(100ms);  // a slow peer's pace is the thing under test
    }
    CHECK(trickle.read_response().value == term(42));
    const incoming bye = stalled.read(5s);
    REQUIRE_MESSAGE(bye.what == incoming::frame, bye);
    REQUIRE(bye.kind() == msg::goodbye);
    const failure f = decode_failure(bye.payload);
    CHECK(f.code == errc::timeout);
    CHECK(f.message == fmt::format("a frame stalled: 6 of its {} bytes arrived, then nothing for 1000 ms", call.size()));
    CHECK(stalled.closes());
    CHECK(std::chrono::steady_clock::now() - started >= 1s);
    s.good_client_still_served();
}

// --- Replies nobody reads ------------------------------------------------------------

TEST_CASE("a peer that never reads its large replies stops being served; memory stays bounded; nothing is lost") {
    for (const bool inline_handlers : {false, true}) {
        CAPTURE(inline_handlers);
        auto srv = test_server("srv");
        srv.inline_handlers = inline_handlers;
        served_node s(test_node("server"), srv);
        std::atomic<int> ran{0};
        const byte_vector big(900 * 1024, 9);
        s.srv.module("big").def("get", [&](std::int64_t i) {
            ++ran;
            return tuple(i, big);
        });
        const auto before = resident_bytes();
        raw_client sink(s.port);
        claim who;
        who.name = "sink";
        who.max_frame = 4u << 20;
        REQUIRE_FALSE(sink.try_handshake(who));

        // 200 replies of 900 KiB would be 180 MB; the write limit is 16 MiB.
        constexpr int calls = 200;
        byte_vector requests;
        for (int i = 1; i <= calls; ++i) append_request(requests, static_cast<std::uint64_t>(i), {"big", "get", {i}}, 4096);
        REQUIRE_FALSE(sink.send(requests));
        REQUIRE(eventually([&] { return info_of(s.srv, "sink").bytes_queued > 16 * mib; }, 10s));
        std::int64_t peak = 0;
        const int ran_then = settled([&] {
            peak = std::max(peak, resident_bytes() - before);
            return ran.load();
        });
        MESSAGE("handlers run: " << ran_then << " of " << calls << "; resident memory grew by " << peak / mib
                                 << " MiB");
        // Handlers wait while the queue is over the limit: at most the replies
        // that fit under it, those in the socket buffers, and one per thread.
        CHECK(ran_then < 60);
        CHECK(info_of(s.srv, "sink").bytes_queued < 16 * mib + 8 * 900 * 1024);
        if (measure_memory) CHECK(peak < 64 * mib);
        s.good_client_still_served();

        // Reading again lets everything through, each once.
        std::set<std::uint64_t> answered;
        for (int i = 0; i < calls; ++i) {
            const response r = sink.read_response(10s);
            REQUIRE(r.ok);
            answered.insert(r.id);
        }
        CHECK(answered.size() == calls);
        CHECK(ran == calls);
    }
}

// --- More than a server takes --------------------------------------------------------

TEST_CASE("connections past max_handshakes or max_connections are refused at once, in words") {
    node_options o = test_node("server");
    o.connect_timeout = 30s;  // a refusal must come from the limit, not a deadline
    auto srv = test_server("srv");
    srv.max_handshakes = 3;
    srv.max_connections = 5;
    served_node s(o, srv);  // the good client holds one connection

    std::vector<std::unique_ptr<raw_client>> silent;
    for (int i = 0; i < 3; ++i) silent.push_back(std::make_unique<raw_client>(s.port));
    REQUIRE(eventually([&] { return s.srv.servers()[0].handshakes == 3; }));
    {
        raw_client one_too_many(s.port);
        const failure f = one_too_many.read_refuse(5s);
        CHECK(f.code == errc::overloaded);
        CHECK(f.message == "server srv has 3 connections in their handshake (max_handshakes)");
        CHECK(one_too_many.closes());
    }
    silent.pop_back();  // one handshake fewer: room again
    REQUIRE(eventually([&] { return s.srv.servers()[0].handshakes == 2; }));
    raw_client admitted(s.port);
    admitted.handshake("admitted");
    silent.clear();
    REQUIRE(eventually([&] { return s.srv.servers()[0].connections == 2; }));

    // Connections: good + admitted + 3 more = 5; the sixth is refused, and a
    // node gets errc::overloaded with the reason.
    std::vector<std::unique_ptr<raw_client>> full;
    for (int i = 0; i < 3; ++i) {
        full.push_back(std::make_unique<raw_client>(s.port));
        full.back()->handshake(fmt::format("full{}", i));
    }
    node late(test_node("late"));
    const auto r = late.try_connect("127.0.0.1", dial("late", s.port), 1);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::overloaded);
    CHECK(r.error().message.find("server srv has 5 connections (max_connections)") != std::string::npos);
    s.good_client_still_served();
}

TEST_CASE("after running out of descriptors every acceptor resumes") {
    node_options o = test_node("server");
    node n(o);
    auto so = test_server("srv");
    so.acceptors = 4;
    const auto port = n.start_server(so).port;
    const auto srv = n.impl().find_server("srv");
    REQUIRE(eventually([&] { return srv->accepts_outstanding() == 4; }));

    // Sockets for the clients first: once the table is full, only accept() needs a new descriptor.
    std::vector<tcp::socket> clients;
    for (int i = 0; i < 6; ++i) {
        clients.emplace_back(raw_io());
        clients.back().open(tcp::v4());
    }
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    int highest = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
        highest = std::max(highest, std::stoi(e.path().filename().string()));
    rlimit tight = saved;
    tight.rlim_cur = static_cast<rlim_t>(highest + 16);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
    std::vector<int> filler;
    for (int fd; (fd = ::dup(0)) >= 0;) filler.push_back(fd);
    struct restore {
        std::vector<int>& fds;
        rlimit limit;
        ~restore() {
            for (const int fd : fds) ::close(fd);
            fds.clear();
            ::setrlimit(RLIMIT_NOFILE, &limit);
        }
    } restored{filler, saved};

    for (auto& c : clients) c.connect(loopback(port));  // the kernel completes them; accept() fails
    CHECK(eventually([&] { return srv->accepts_outstanding() == 0; }));
    for (const int fd : filler) ::close(fd);
    filler.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved);

    // All four acceptors are back, not one, and every waiting client got in.
    CHECK(eventually([&] { return srv->accepts_outstanding() == 4; }));
    CHECK(eventually([&] { return n.servers()[0].connections == 6; }));
}

// --- Options ---------------------------------------------------------------------------

TEST_CASE("every option is checked where it is given") {
    const auto node_with = [](auto&& change) {
        return error_of([&] {
            node_options o = test_node("n");
            change(o);
            node n(o);
        });
    };
    CHECK(node_with([](node_options& o) { o.max_request_bytes_per_connection = 0; }) ==
          "max_request_bytes_per_connection must be 4096..1099511627776 (it is 0)");
    CHECK(node_with([](node_options& o) { o.max_requests_per_connection = 0; }) ==
          "max_requests_per_connection must be 1..1048576 (it is 0)");
    CHECK(node_with([](node_options& o) { o.stalled_frame_timeout = 0ms; }) ==
          "stalled_frame_timeout (ms) must be 1..86400000 (it is 0)");
    CHECK(node_with([](node_options& o) { o.io_threads = 0; }) == "io_threads must be 1..256 (it is 0)");
    CHECK(node_with([](node_options& o) { o.max_frame_bytes = 100; }) ==
          "max_frame_bytes must be 4096..67108864 (it is 100)");
    CHECK(node_with([](node_options& o) { o.name = std::string(256, 'n'); }).starts_with("the node's name must be 1 to 255"));

    node n(test_node("n"));
    const auto server_with = [&](auto&& change) {
        return error_of([&] {
            auto so = test_server("s");
            change(so);
            (void)n.start_server(so);
        });
    };
    CHECK(server_with([](server_options& o) {
              o.cookies = {{"guest", "g"}};
              o.jails = {{"guest", std::string(300, 'm')}};
          }).starts_with("the jail of client guest must be 1 to 255 bytes"));
    CHECK(server_with([](server_options& o) { o.acceptors = 0; }) == "acceptors must be 1..1024 (it is 0)");
    CHECK(server_with([](server_options& o) { o.max_connections = 0; }) ==
          "max_connections must be 1..1048576 (it is 0)");
    CHECK(server_with([](server_options& o) { o.cookies = {{"guest", ""}}; }) ==
          "the cookie of client guest must be 1 to 1024 bytes (it is 0)");
    CHECK(server_with([](server_options& o) { o.transport = rot::transport::tls; }) ==
          "a TLS server needs a certificate and its private key (tls.certificate)");
    CHECK(n.servers().empty());

    const auto r = n.try_connect("127.0.0.1", {.port = 0}, 1);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "the port to connect to must be 1..65535");
    const auto c = n.try_connect("127.0.0.1", {.port = 1, .cookie = std::string(2000, 'c')}, 1);
    REQUIRE_FALSE(c);
    CHECK(c.error().message == "the connection's cookie must be 1 to 1024 bytes (it is 2000)");
}
