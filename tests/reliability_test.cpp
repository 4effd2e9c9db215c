// Every call ends and every peer heals: heartbeats, the outcome of calls on a
// connection that dies, supervised pools, fair serving and bounded shutdown.
// Timers are scaled down (200 ms heartbeats, a 1 s dead-peer timeout); peers
// that die, freeze or restart are processes (rot_test_peer) or a TCP proxy
// that stops forwarding. Every wait is bounded.

#include <rot/async.hpp>

#include <asio/use_future.hpp>

#include <csignal>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "child_process.hpp"
#include "raw_peer.hpp"
#include "supervisor.hpp"

using namespace rot;
using namespace rot::detail;
using namespace rot::test;
using rot::tools::child_process;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto heartbeat = 200ms;
constexpr auto dead_after = 1000ms;

/// A test node whose heartbeats run at test speed.
node_options lively(std::string name) {
    node_options o = test_node(std::move(name));
    o.heartbeat_interval = heartbeat;
    o.dead_peer_timeout = dead_after;
    return o;
}

std::size_t open_descriptors() {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                                  std::filesystem::directory_iterator()));
}

/// A server process (rot_test_peer serve) with lively heartbeats; "ran N" lines tell what it ran.
struct server_process {
    child_process p;
    std::uint16_t port = 0;
    explicit server_process(std::uint16_t at = 0)
        : p({ROT_TEST_PEER, "serve", std::to_string(at), std::to_string(heartbeat.count()),
             std::to_string(dead_after.count())}) {
        const auto line = p.read_line();
        REQUIRE(line);
        REQUIRE(line->rfind("port ", 0) == 0);
        port = static_cast<std::uint16_t>(std::stoi(line->substr(5)));
    }
};

/// Records when each peer went down or came up, as the node tells it. The
/// record is shared with the callbacks, which may run until the node is gone.
struct events {
    struct record {
        std::mutex m;
        std::vector<std::pair<std::string, clock_type::time_point>> down, up;
        std::set<std::thread::id> threads;
    };
    std::shared_ptr<record> r = std::make_shared<record>();

    explicit events(node& n) {
        n.on_peer_down([r = r](const std::string& peer, const failure&) {
            std::lock_guard lock(r->m);
            r->down.emplace_back(peer, clock_type::now());
            r->threads.insert(std::this_thread::get_id());
        });
        n.on_peer_up([r = r](const std::string& peer) {
            std::lock_guard lock(r->m);
            r->up.emplace_back(peer, clock_type::now());
        });
    }
    std::size_t downs(std::string_view peer) const {
        std::lock_guard lock(r->m);
        return static_cast<std::size_t>(
            std::count_if(r->down.begin(), r->down.end(), [&](auto& e) { return e.first == peer; }));
    }
    std::size_t ups(std::string_view peer) const {
        std::lock_guard lock(r->m);
        return static_cast<std::size_t>(
            std::count_if(r->up.begin(), r->up.end(), [&](auto& e) { return e.first == peer; }));
    }
};

/// Collects the outcome of many asynchronous calls; each must complete
/// exactly once. Shared with the completions, which may outlive the test's scope.
struct outcomes {
    struct record {
        std::mutex m;
        std::map<errc, int> codes;
        int ok = 0;
        int total = 0;
        int twice = 0;
        std::set<int> done;
    };
    std::shared_ptr<record> r = std::make_shared<record>();

    auto handler(int i) {
        return [r = r, i](std::error_code ec, term) {
            std::lock_guard lock(r->m);
            if (!r->done.insert(i).second) ++r->twice;
            ++r->total;
            if (!ec) ++r->ok;
            else ++r->codes[static_cast<errc>(ec.value())];
        };
    }
    int count() const {
        std::lock_guard lock(r->m);
        return r->total;
    }
    int code(errc c) const {
        std::lock_guard lock(r->m);
        return r->codes[c];
    }
    int twice() const {
        std::lock_guard lock(r->m);
        return r->twice;
    }
    int ok() const {
        std::lock_guard lock(r->m);
        return r->ok;
    }
};

/// A TCP proxy to `target` that forwards until frozen: then it holds both
/// connections open and reads nothing, like a path that went black.
class proxy {
public:
    explicit proxy(std::uint16_t target) : acceptor_(raw_io(), loopback(0)), target_(target) {
        port_ = acceptor_.local_endpoint().port();
        accepting_ = std::thread([this] { accept_loop(); });
    }
    ~proxy() {
        stop_ = true;  // every loop polls it: the threads end, then the sockets close
        if (accepting_.joinable()) accepting_.join();
        for (auto& t : pumps_) t.join();
    }
    [[nodiscard]] std::uint16_t port() const { return port_; }
    void freeze() { frozen_ = true; }

private:
    void accept_loop() {
        while (!stop_) {
            if (!wait_readable(acceptor_.native_handle(), clock_type::now() + 100ms)) continue;
            auto client = std::make_shared<tcp::socket>(raw_io());
            std::error_code ec;
            acceptor_.accept(*client, ec);
            if (ec) continue;
            auto server = std::make_shared<tcp::socket>(raw_io());
            server->connect(loopback(target_), ec);
            if (ec) continue;
            pumps_.emplace_back([this, client, server] { pump(*client, *server); });
            pumps_.emplace_back([this, client, server] { pump(*server, *client); });
        }
    }
    void pump(tcp::socket& from, tcp::socket& to) {
        std::uint8_t buf[16384];
        while (!stop_) {
            if (frozen_ || !wait_readable(from.native_handle(), clock_type::now() + 50ms)) {
                if (frozen_) std::this_thread::sleep_for(20ms);  // polling interval, not an ordering
                continue;
            }
            std::error_code ec;
            const std::size_t n = from.read_some(asio::buffer(buf), ec);
            if (ec) return;
            asio::write(to, asio::buffer(buf, n), ec);
            if (ec) return;
        }
    }

    tcp::acceptor acceptor_;
    std::uint16_t target_;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<bool> frozen_{false};
    std::thread accepting_;
    std::vector<std::thread> pumps_;
};

}  // namespace

// --- Heartbeats ------------------------------------------------------------------

TEST_CASE("idle connections stay up on heartbeats; a peer that says nothing is declared down") {
    node a(lively("a"));
    node b(lively("b"));
    const auto port = a.start_server(test_server("srv")).port;
    b.connect("127.0.0.1", dial("cl", port), 1);
    // Three dead-peer timeouts of silence but for the pings.
    const auto until = clock_type::now() + 3 * dead_after;
    while (clock_type::now() < until) {
        REQUIRE(b.connected("srv") == 1);
        std::this_thread::sleep_for(50ms);  // polling interval, not an ordering
    }
    CHECK(a.connected("cl") == 1);

    // A peer that passed the handshake and then says nothing at all.
    served_node s(lively("server"));
    events seen(s.srv);
    raw_client mute(s.port);
    mute.handshake("mute");
    const auto started = clock_type::now();
    REQUIRE(eventually([&] { return seen.downs("mute") == 1; }, 5s));
    const auto took = clock_type::now() - started;
    CHECK(took >= dead_after - 100ms);
    CHECK(took <= dead_after + 500ms);
    // Before it went, the node pinged it: a ping is one byte of kind 11.
    bool pinged = false;
    for (incoming in = mute.read(100ms); in.what == incoming::frame; in = mute.read(100ms))
        pinged = pinged || in.kind() == msg::ping;
    CHECK(pinged);
    s.good_client_still_served();
}

TEST_CASE("a frame that arrives slowly is a sign of life: its sender is not declared down") {
    served_node s(lively("server"));
    events seen(s.srv);
    raw_client slow(s.port);
    slow.handshake("slow");
    // One call frame sent in eight pieces over 2.4 s, two dead-peer timeouts:
    // nothing but the frame's own bytes comes from this peer meanwhile.
    const byte_vector call = encode_request(1, {"math", "add", {40, 2}}, max_frame_ceiling);
    const std::size_t piece = (call.size() + 7) / 8;
    for (std::size_t at = 0; at < call.size(); at += piece) {
        REQUIRE_FALSE(slow.send(byte_vector(call.begin() + static_cast<std::ptrdiff_t>(at),
                                       call.begin() + static_cast<std::ptrdiff_t>(std::min(at + piece, call.size())))));
        std::this_thread::sleep_for(300ms);  // the slow sender's pace is the thing under test
    }
    // The node pinged it meanwhile (it sent nothing itself); then the reply.
    incoming in = slow.read(2s);
    while (in.what == incoming::frame && in.kind() == msg::ping) in = slow.read(2s);
    REQUIRE_MESSAGE(in.what == incoming::frame, in);
    REQUIRE(in.kind() == msg::reply);
    CHECK(to_response(in).value == term(42));
    CHECK(seen.downs("slow") == 0);
    CHECK(s.srv.connected("slow") == 1);
}

TEST_CASE("a peer that pings more than twenty times a second is cut off") {
    served_node s;
    raw_client noisy(s.port);
    noisy.handshake("noisy");
    for (int i = 0; i < 40; ++i) (void)noisy.send(encode_ping());  // the last may find the connection closed
    CHECK(noisy.closes(errc::protocol_error));
    raw_client calm(s.port);
    calm.handshake("calm");
    for (int i = 0; i < 5; ++i) REQUIRE_FALSE(calm.send(encode_ping()));
    CHECK(calm.call(1, {"math", "add", {1, 2}}).value == term(3));
    s.good_client_still_served();
}

TEST_CASE("SIGSTOP of the server: declared down within the dead-peer timeout, calls end, the supervised pool comes back") {
    server_process server;
    node client(lively("client"));
    events seen(client);
    CHECK(client.connect("127.0.0.1", {.name = "cl", .port = server.port, .supervise = true}, 2) == "srv");
    auto forever = async_call(client, "srv", {"work", "run", {1, 60000}}, std::chrono::milliseconds::max(),
                              asio::use_future);
    REQUIRE(eventually([&] { return total(client, &connection_info::calls_pending) == 1; }));
    server.p.signal(SIGSTOP);
    const auto stopped = clock_type::now();
    REQUIRE(eventually([&] { return seen.downs("srv") == 1; }, 5s));
    const auto took = clock_type::now() - stopped;
    CHECK(took >= dead_after - 500ms);
    CHECK(took <= dead_after + 500ms);
    // The call waiting "for ever" ended: its request was sent, so it may have run.
    REQUIRE(forever.wait_for(1s) == std::future_status::ready);
    try {
        (void)forever.get();
        FAIL("no error");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::connection_lost);
    }
    server.p.signal(SIGCONT);
    CHECK(eventually([&] { return client.connected("srv") == 2; }, 5s));
    CHECK(client.call<int>("srv", {"math", "add", {2, 2}}, 2s) == 4);
    CHECK(seen.ups("srv") == 2);
}

TEST_CASE("a half-open path is declared down on both sides, and the restarted peer is accepted at once") {
    node srv(lively("server"));
    events server_seen(srv);
    const auto port = srv.start_server(test_server("srv")).port;
    proxy path(port);
    auto client = std::make_unique<node>(lively("client"));
    events client_seen(*client);
    client->connect("127.0.0.1", dial("cl", path.port()), 1);
    REQUIRE(srv.connected("cl") == 1);
    path.freeze();
    // The client restarts at once (a new run of the same node), straight to the server.
    node restarted(lively("client"));
    CHECK(restarted.connect("127.0.0.1", dial("cl", port), 1) == "srv");
    CHECK(srv.call("cl", {"rot", "node", {}}, 2s) == term(atom("client")));
    // The old run's side finds out by itself.
    CHECK(eventually([&] { return client_seen.downs("srv") == 1; }, 3s));
    client.reset();
    CHECK(srv.connected("cl") == 1);
}

// --- The outcome of every call ---------------------------------------------------

TEST_CASE("kill -9 of the server with 1,000 calls in flight: every call ends within 2 s, connection_lost or not_sent") {
    const std::size_t fds_before = open_descriptors();
    {
        server_process server;
        node client(lively("client"));
        client.connect("127.0.0.1", dial("cl", server.port), 4);
        outcomes o;
        for (int i = 0; i < 1000; ++i)
            async_call(client, "srv", {"work", "run", {i, 60000}}, 60s, o.handler(i));
        REQUIRE(eventually([&] {
            std::size_t pending = 0;
            for (const auto& c : client.connections()) pending += c.calls_pending;
            return pending == 1000;
        }));
        server.p.kill();
        const auto killed = clock_type::now();
        REQUIRE(eventually([&] { return o.count() == 1000; }, 2s));
        CHECK(clock_type::now() - killed < 2s);
        CHECK(o.twice() == 0);
        CHECK(o.ok() == 0);
        CHECK(o.code(errc::connection_lost) + o.code(errc::not_sent) == 1000);
        CHECK(o.code(errc::connection_lost) > 0);
        CHECK(client.connected().empty());
    }
    CHECK(eventually([&] { return open_descriptors() <= fds_before; }));
}

TEST_CASE("requests never written when their connection dies end not_sent; written ones end with the reason") {
    // Over an in-memory pipe, whose buffer does not grow: once the server has
    // stopped reading, a write that does not fit stays where it is.
    node_options so = test_node("server");
    so.max_requests_per_connection = 1;  // one request running: the server stops reading
    node srv(so);
    std::promise<void> release;
    const auto released = release.get_future().share();
    std::atomic<int> ran{0};
    srv.module("m").def("f", [&, released](const byte_vector&) {
        ++ran;
        (void)released.wait_for(20s);
        return true;
    });
    (void)srv.start_server(test_server("srv"));
    node n(test_node("eager"));
    REQUIRE(n.impl().connect_pipe(srv.impl(), "srv", {.name = "eager"}).value() == "srv");
    outcomes out;
    int started = 0;
    async_call(n, "srv", {"m", "f", {byte_vector(1, 1)}}, 30s, out.handler(started++));
    REQUIRE(eventually([&] { return ran == 1; }));
    // Written, at least in part (the pipe takes what it can): it may run.
    async_call(n, "srv", {"m", "f", {byte_vector(3u << 20, 1)}}, 30s, out.handler(started++));
    CHECK(n.connections()[0].bytes_queued > 0);
    CHECK(n.connections()[0].bytes_unsent == 0);
    // What the pipe did not take goes to an asynchronous write on the
    // connection's strand; a timeout, which ends there too, comes after it.
    async_call(n, "srv", {"rot", "ping", {}}, 100ms, out.handler(started++));
    REQUIRE(eventually([&] { return out.code(errc::timeout) == 1; }));
    // Queued behind it: these never leave this node.
    for (int i = 0; i < 5; ++i) async_call(n, "srv", {"m", "f", {byte_vector(1000, 1)}}, 30s, out.handler(started++));
    CHECK(n.connections()[0].bytes_unsent > 5000);
    REQUIRE(srv.disconnect("eager"));
    REQUIRE(eventually([&] { return out.count() == started; }, 5s));
    release.set_value();
    CHECK(out.twice() == 0);
    CHECK(out.code(errc::not_sent) == 5);
    // Written: they may have run. The goodbye tells why, unless the write
    // that found the socket closed came first.
    CHECK(out.code(errc::disconnected) + out.code(errc::connection_lost) == 2);
    CHECK(out.count() == 8);
    CHECK(ran == 1);
}

// --- Fair serving ---------------------------------------------------------------

TEST_CASE("kill -9 of a client with 1,000 queued calls: they never run, and another client's pings are all answered") {
    node_options o = test_node("server");
    o.handler_threads = 2;
    node srv(o);
    std::atomic<int> ran{0};
    srv.module("work").def("run", [&](std::int64_t seq, std::int64_t ms) {
        ++ran;
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return seq;
    });
    const auto port = srv.start_server(test_server("srv")).port;
    node other(test_node("other"));
    other.connect("127.0.0.1", dial("other", port), 1);

    child_process flood({ROT_TEST_PEER, "flood", std::to_string(port), "1000", "100"});
    REQUIRE(flood.read_line() == "sent");
    REQUIRE(eventually([&] { return ran >= 2; }));
    // Another client's pings are answered at once, whatever the pool does.
    for (int i = 0; i < 20; ++i) CHECK(other.try_call("srv", {"rot", "ping", {}}, 1s));
    flood.kill();
    const int ran_at_kill = ran;
    REQUIRE(eventually([&] { return srv.connected("flood") == 0; }));
    // What was running finishes; what waited never starts.
    CHECK(eventually([&] { return srv.servers()[0].connections == 1; }));
    std::this_thread::sleep_for(300ms);  // three handler durations: the pool would have started more
    CHECK(ran <= ran_at_kill + 2);
    CHECK(other.try_call("srv", {"work", "run", {1, 0}}, 1s));
}

TEST_CASE("requests from different connections are served in turn") {
    node_options o = test_node("server");
    o.handler_threads = 2;
    node srv(o);
    srv.module("work").def("run", [](std::int64_t seq, std::int64_t ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return seq;
    });
    const auto port = srv.start_server(test_server("srv")).port;
    node greedy(test_node("greedy"));
    greedy.connect("127.0.0.1", dial("greedy", port), 1);
    node modest(test_node("modest"));
    modest.connect("127.0.0.1", dial("modest", port), 1);
    // 200 requests of 50 ms: 5 s of the pool's time.
    outcomes backlog;
    for (int i = 0; i < 200; ++i) async_call(greedy, "srv", {"work", "run", {i, 50}}, 30s, backlog.handler(i));
    REQUIRE(eventually([&] { return total(srv, &connection_info::requests_running) > 100; }));
    const auto asked = clock_type::now();
    CHECK(modest.call<int>("srv", {"work", "run", {7, 50}}, 3s) == 7);
    // Served after at most one turn of each connection, not after the backlog.
    CHECK(clock_type::now() - asked < 1s);
    greedy.disconnect("srv");
}

// --- Supervised pools -----------------------------------------------------------------

TEST_CASE("backoff: 1 s, x1.6, +/-20 %, at most 120 s") {
    CHECK(supervisor::backoff(0, 0.0) == 1000ms);
    CHECK(supervisor::backoff(1, 0.0) == 1600ms);
    CHECK(supervisor::backoff(2, 0.0) == 2560ms);
    CHECK(supervisor::backoff(20, 0.0) == 120000ms);
    CHECK(supervisor::backoff(0, 0.2) == 1200ms);
    CHECK(supervisor::backoff(0, -0.2) == 800ms);
    CHECK(supervisor::backoff(30, 0.2) == 144000ms);
}

TEST_CASE("20 supervised clients started before their server connect once it appears, not in lock-step") {
    std::uint16_t port = 0;
    {
        tcp::acceptor probe(raw_io(), loopback(0));  // a port nobody listens on, for now
        port = probe.local_endpoint().port();
    }
    std::vector<std::unique_ptr<node>> clients;
    for (int i = 0; i < 20; ++i) {
        clients.push_back(std::make_unique<node>(lively(fmt::format("c{}", i))));
        // Knowing the server's name, a supervised connect returns at once and keeps dialing.
        CHECK(clients.back()->connect("127.0.0.1",
                                      {.name = fmt::format("c{}", i), .port = port, .supervise = true, .server = "srv"},
                                      1) == "srv");
        CHECK(clients.back()->connected("srv") == 0);
    }
    // Plain connects still fail fast.
    CHECK_FALSE(clients[0]->try_connect("127.0.0.1", dial("plain", port), 1));

    node srv(lively("server"));
    events seen(srv);
    auto so = test_server("srv");
    so.port = port;
    (void)srv.start_server(so);
    const auto started = clock_type::now();
    REQUIRE(eventually([&] { return srv.connected().size() == 20; }, 5s));
    // Within their backoff (at most 1.2 s after the first failure, 1.92 s after the second) and a second.
    CHECK(clock_type::now() - started < 3s);
    // The up events come on an I/O thread, after the names are attached.
    REQUIRE(eventually([&] {
        std::lock_guard lock(seen.r->m);
        return seen.r->up.size() == 20;
    }));
    std::lock_guard lock(seen.r->m);
    const auto times = std::minmax_element(seen.r->up.begin(), seen.r->up.end(),
                                           [](const auto& a, const auto& b) { return a.second < b.second; });
    CHECK(times.second->second - times.first->second > 50ms);  // jitter spreads them
}

TEST_CASE("a supervised pool dials again after its server restarts; disconnect() stops it") {
    auto server = std::make_unique<server_process>();
    const auto port = server->port;
    node client(lively("client"));
    CHECK(client.connect("127.0.0.1", {.name = "cl", .port = port, .supervise = true}, 2) == "srv");
    server.reset();  // end of input: it stops, saying goodbye
    REQUIRE(eventually([&] { return client.connected("srv") == 0; }));
    const auto r = client.try_call("srv", {"math", "add", {1, 1}}, 1s);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::not_connected);  // never sent: safe to retry
    server = std::make_unique<server_process>(port);
    REQUIRE(eventually([&] { return client.connected("srv") == 2; }, 5s));
    CHECK(client.call<int>("srv", {"math", "add", {1, 1}}) == 2);
    CHECK(client.disconnect("srv"));
    std::this_thread::sleep_for(1500ms);  // a backoff and more: a supervisor still running would dial again
    CHECK(client.connected("srv") == 0);
}

TEST_CASE("chaos: the server killed and restarted every 2 s under 64 calls in flight; every call ends in time, none runs twice") {
    auto server = std::make_unique<server_process>();
    const auto port = server->port;
    std::vector<std::string> ran_lines;
    const auto harvest = [&](server_process& s) {
        while (auto line = s.p.read_line(200ms)) ran_lines.push_back(*line);
    };
    constexpr auto timeout = 1000ms;
    std::mutex m;
    std::map<std::int64_t, bool> succeeded;  // seq -> returned its value
    std::vector<double> late_ms;
    std::atomic<std::int64_t> next{0};
    std::atomic<bool> running{true};
    std::atomic<int> in_flight{0};
    // After the state its completions use: it goes first.
    node client(lively("client"));
    client.connect("127.0.0.1", {.name = "cl", .port = port, .supervise = true, .server = "srv"}, 2);
    std::function<void()> issue = [&] {
        const std::int64_t seq = next++;
        const auto t0 = clock_type::now();
        ++in_flight;
        async_call(client, "srv", {"work", "run", {seq, 1}}, timeout, [&, seq, t0](std::error_code ec, term v) {
            const auto took = clock_type::now() - t0;
            {
                std::lock_guard lock(m);
                succeeded[seq] = !ec && v == term(seq);
                if (took > timeout + 1s) late_ms.push_back(std::chrono::duration<double, std::milli>(took).count());
            }
            --in_flight;
            if (running) {
                if (ec) std::this_thread::sleep_for(5ms);  // not a spin while the server is down
                issue();
            }
        });
    };
    for (int i = 0; i < 64; ++i) issue();
    const auto end = clock_type::now() + 20s;
    while (clock_type::now() < end) {
        std::this_thread::sleep_for(2s);  // the chaos's own pace
        server->p.kill();
        harvest(*server);
        server = std::make_unique<server_process>(port);
    }
    running = false;
    REQUIRE(eventually([&] { return in_flight == 0; }, 5s));
    server->p.close_stdin();
    harvest(*server);
    server.reset();
    std::lock_guard lock(m);
    CHECK(late_ms.empty());
    // At most once: no request ran twice; every success ran.
    std::map<std::int64_t, int> runs;
    for (const auto& line : ran_lines)
        if (line.rfind("ran ", 0) == 0) ++runs[std::stoll(line.substr(4))];
    int twice = 0, succeeded_unseen = 0, ok = 0;
    for (const auto& [seq, n] : runs) twice += n > 1;
    for (const auto& [seq, good] : succeeded) {
        ok += good;
        if (good && !runs.count(seq)) ++succeeded_unseen;
    }
    MESSAGE(succeeded.size() << " calls, " << ok << " succeeded, " << runs.size() << " ran");
    CHECK(twice == 0);
    CHECK(ok > 1000);
    CHECK(succeeded_unseen == 0);  // a handler says what it ran before it answers
}

// --- Shutdown -------------------------------------------------------------------------

TEST_CASE("stop(): from a handler it returns; async calls after it complete with stopped; milliseconds::max() is for ever") {
    node n1(test_node("node1"));
    auto n2 = std::make_unique<node>(test_node("node2"));
    n2->module("ctl").def("stop", [&] {
        n2->stop();
        return atom("stopping");
    });
    const auto port = n2->start_server(test_server("srv")).port;
    n1.connect("127.0.0.1", dial("cl", port), 1);
    const auto started = clock_type::now();
    const auto r = n1.try_call("srv", {"ctl", "stop", {}}, 10s);
    CHECK(clock_type::now() - started < 3s);  // not the whole timeout
    REQUIRE_FALSE(r);
    CHECK(eventually([&] { return n1.connected().empty(); }));

    // After stop(), an asynchronous call completes (with stopped), whichever token.
    auto f = async_call(*n2, "cl", {"rot", "ping", {}}, 1s, asio::use_future);
    REQUIRE(f.wait_for(2s) == std::future_status::ready);
    CHECK_THROWS_AS(f.get(), std::system_error);
    std::promise<std::error_code> got;
    async_call(*n2, "cl", {"rot", "ping", {}}, 1s, [&](std::error_code ec, term) { got.set_value(ec); });
    auto g = got.get_future();
    REQUIRE(g.wait_for(2s) == std::future_status::ready);
    CHECK(g.get() == errc::stopped);
    n2.reset();

    // The longest timeout there is means no timeout at all.
    node a(test_node("a"));
    a.module("m").def("id", [](std::int64_t x) { return x; });
    const auto p = a.start_server(test_server("srv")).port;
    node b(test_node("b"));
    b.connect("127.0.0.1", dial("b", p), 1);
    CHECK(b.call<int>("srv", {"m", "id", {5}}, std::chrono::milliseconds::max()) == 5);
    CHECK(async_call(b, "srv", {"m", "id", {6}}, std::chrono::milliseconds::max(), asio::use_future).get() == term(6));
}

TEST_CASE("on_peer_down runs on an I/O thread, not on the thread that disconnected") {
    node a(test_node("a"));
    const auto port = a.start_server(test_server("srv")).port;
    node b(test_node("b"));
    events seen(b);
    b.connect("127.0.0.1", dial("b", port), 2);
    REQUIRE(b.disconnect("srv"));
    REQUIRE(eventually([&] { return seen.downs("srv") == 1; }));
    std::lock_guard lock(seen.r->m);
    CHECK(seen.r->threads.count(std::this_thread::get_id()) == 0);
}
