// Who is on the other end: cookies (where a node finds its own), the
// handshake state machine on its own (no sockets), and nodes that refuse
// whoever cannot prove the cookie, a replayed or reflected handshake, and a
// name that would lead somewhere other than where it already leads.

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <fstream>
#include <mutex>
#include <random>
#include <set>

#include "log.hpp"
#include "node_impl.hpp"
#include "raw_peer.hpp"

using namespace rot;
using namespace rot::detail;
using namespace rot::test;
namespace fs = std::filesystem;

namespace {

/// A fresh directory, removed with what it holds.
struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<unsigned> counter{0};
        path = fs::temp_directory_path() /
               fmt::format("rot_auth_test_{}_{}_{}", ::getpid(), counter++, std::random_device{}());
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fs::path write(const std::string& name, std::string_view text, fs::perms mode = fs::perms::owner_read |
                                                                                      fs::perms::owner_write) const {
        const auto p = path / name;
        std::ofstream(p) << text;
        fs::permissions(p, mode);
        return p;
    }
};

/// Counts the log lines that contain `text`, for as long as it lives.
class log_counter {
public:
    explicit log_counter(std::string text) : text_(std::move(text)) {
        set_log_sink([this](log_level, std::string_view, std::string_view message) {
            if (message.find(text_) != std::string_view::npos) ++count_;
        });
    }
    ~log_counter() { set_log_sink({}); }
    [[nodiscard]] int count() const noexcept { return count_.load(); }

private:
    std::string text_;
    std::atomic<int> count_{0};
};

constexpr std::uint32_t frame_limit = 1u << 20;

handshake dialer_of(std::string cookie, std::string name = "cl", std::uint8_t seed = 1) {
    nonce n;
    n.fill(seed);
    return handshake::dialer({"node2", 200, frame_limit, 0}, std::move(name), std::move(cookie), n);
}

handshake acceptor_of(std::string cookie, std::uint8_t seed = 2) {
    nonce n;
    n.fill(seed);
    return handshake::acceptor({"node1", 100, frame_limit, 0}, "srv",
                               [cookie](std::string_view) { return cookie; }, n);
}

byte_vector payload_of(const byte_vector& frame) { return byte_vector(frame.begin() + frame_header_bytes, frame.end()); }

}  // namespace

// --- Where a node finds its cookie ---------------------------------------------

TEST_CASE("the cookie: given, from a file, from ROT_COOKIE, else ~/.rot.cookie, created once with mode 0600") {
    const temp_dir home;
    node_options o;
    o.cookie = "given";
    o.cookie_file = "/no/such/file";
    CHECK(resolve_cookie(o, "from env", home.path) == "given");
    o.cookie.clear();
    o.cookie_file = home.write("c", "from file \n\n").string();
    CHECK(resolve_cookie(o, "from env", home.path) == "from file");
    o.cookie_file.clear();
    CHECK(resolve_cookie(o, "from env", home.path) == "from env");
    CHECK_FALSE(fs::exists(home.path / ".rot.cookie"));

    const std::string made = resolve_cookie(o, nullptr, home.path);
    CHECK(made.size() == 64);  // 32 random bytes, in hex
    CHECK(made.find_first_not_of("0123456789abcdef") == std::string::npos);
    struct stat st {};
    REQUIRE(::stat((home.path / ".rot.cookie").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(resolve_cookie(o, "", home.path) == made);  // found, not made again
    const temp_dir other;
    CHECK(resolve_cookie(o, nullptr, other.path) != made);
}

TEST_CASE("nodes starting at once in a fresh home all end up with the same cookie") {
    const temp_dir home;
    std::vector<std::string> got(8);
    std::vector<std::thread> threads;
    for (auto& g : got) threads.emplace_back([&] { g = resolve_cookie(node_options{}, nullptr, home.path); });
    for (auto& t : threads) t.join();
    CHECK(std::set<std::string>(got.begin(), got.end()).size() == 1);
    CHECK(got[0].size() == 64);
}

TEST_CASE("a cookie file others may read, an empty one or a missing one is refused, naming the file") {
    const temp_dir home;
    node_options o;
    const auto shared = home.write(".rot.cookie", "secret\n", fs::perms::owner_read | fs::perms::group_read);
    CHECK(error_of([&] { (void)resolve_cookie(o, nullptr, home.path); }) ==
          fmt::format("cookie file {} has mode 0440: it must be readable by its owner only (chmod 600 {})",
                      shared.string(), shared.string()));
    o.cookie_file = home.write("world", "secret", fs::perms::owner_all | fs::perms::others_read).string();
    CHECK(error_of([&] { (void)resolve_cookie(o, nullptr, home.path); }).find("has mode 0704") !=
          std::string::npos);
    o.cookie_file = home.write("empty", "\n").string();
    CHECK(error_of([&] { (void)resolve_cookie(o, nullptr, home.path); }) ==
          fmt::format("cookie file {} is empty", o.cookie_file));
    o.cookie_file = (home.path / "missing").string();
    CHECK(error_of([&] { (void)resolve_cookie(o, nullptr, home.path); }) ==
          fmt::format("cannot read cookie file {}: No such file or directory", o.cookie_file));
    o.cookie_file.clear();
    o.cookie = std::string(1025, 'x');
    CHECK(error_of([&] { (void)resolve_cookie(o, nullptr, home.path); }) ==
          "the node's cookie must be 1 to 1024 bytes (it is 1025)");

    // A node that cannot find a usable cookie does not start.
    node_options bad = test_node("n");
    bad.cookie.clear();
    bad.cookie_file = shared.string();
    CHECK(error_of([&] { node n(bad); }).find("has mode 0440") != std::string::npos);
}

// --- The handshake, without sockets ----------------------------------------------

TEST_CASE("handshake: both sides prove the cookie and learn who the other is") {
    auto d = dialer_of("secret");
    auto a = acceptor_of("secret");
    auto challenge = a.on_frame(payload_of(d.hello_frame()));
    REQUIRE(challenge.is == handshake::status::in_progress);
    auto proof = d.on_frame(payload_of(challenge.send));
    REQUIRE(proof.is == handshake::status::in_progress);
    auto welcome = a.on_frame(payload_of(proof.send));
    REQUIRE(welcome.is == handshake::status::authenticated);
    CHECK(d.on_frame(payload_of(welcome.send)).is == handshake::status::authenticated);

    CHECK(a.peer().node == "node2");
    CHECK(a.peer().name == "cl");
    CHECK(a.peer().incarnation == 200);
    CHECK(d.peer().node == "node1");
    CHECK(d.peer().name == "srv");
    CHECK(d.peer().incarnation == 100);
    CHECK(a.peer().version == 2);
    CHECK(a.peer().key_id == d.peer().key_id);
    CHECK(a.peer().key_id == key_id("secret"));
    CHECK(a.peer_nonce() == d.own_nonce());
    CHECK(d.peer_nonce() == a.own_nonce());

    // The cookie itself is never on the wire.
    for (const byte_vector* frame : std::initializer_list<const byte_vector*>{&d.hello_frame(), &challenge.send, &proof.send, &welcome.send}) {
        const std::string bytes(frame->begin(), frame->end());
        CHECK(bytes.find("secret") == std::string::npos);
    }
}

TEST_CASE("handshake: a wrong cookie is refused on either side, before anything else") {
    // The acceptor finds out from the proof, and says so.
    auto d = dialer_of("wrong");
    auto a = acceptor_of("secret");
    auto challenge = a.on_frame(payload_of(d.hello_frame()));
    auto proof = d.on_frame(payload_of(challenge.send));
    const auto refused = a.on_frame(payload_of(proof.send));
    REQUIRE(refused.is == handshake::status::failed);
    CHECK(refused.why.code == errc::auth_failed);
    REQUIRE_FALSE(refused.send.empty());
    const auto told = d.on_frame(payload_of(refused.send));
    CHECK(told.is == handshake::status::failed);
    CHECK(told.why.code == errc::auth_failed);
    CHECK(told.why.message == "refused: authentication failed: the cookie does not match");

    // The dialer finds out from the welcome: an impostor cannot forge it.
    auto d2 = dialer_of("secret");
    auto impostor = acceptor_of("guess");
    auto c2 = impostor.on_frame(payload_of(d2.hello_frame()));
    (void)d2.on_frame(payload_of(c2.send));
    const auto forged = encode_welcome(hmac_sha256("guess", {}));
    const auto fooled = d2.on_frame(payload_of(forged));
    CHECK(fooled.is == handshake::status::failed);
    CHECK(fooled.why.code == errc::auth_failed);
    CHECK(fooled.why.message.find("does not know our cookie") != std::string::npos);
    // Nothing but the next handshake frame is taken.
    auto a3 = acceptor_of("secret");
    const auto early = a3.on_frame(payload_of(encode_request(1, {"m", "f", {}}, 4096)));
    CHECK(early.is == handshake::status::failed);
    CHECK(early.why.code == errc::protocol_error);
}

TEST_CASE("handshake: a replayed proof, and a proof reflected as the other role, are refused") {
    // Session 1, recorded.
    auto d = dialer_of("secret");
    auto a = acceptor_of("secret", 2);
    auto c = a.on_frame(payload_of(d.hello_frame()));
    auto p = d.on_frame(payload_of(c.send));
    auto w = a.on_frame(payload_of(p.send));
    REQUIRE(w.is == handshake::status::authenticated);

    // Replayed to an acceptor that draws a new nonce: the proof no longer fits.
    auto a2 = acceptor_of("secret", 3);
    REQUIRE(a2.on_frame(payload_of(d.hello_frame())).is == handshake::status::in_progress);
    const auto replay = a2.on_frame(payload_of(p.send));
    CHECK(replay.is == handshake::status::failed);
    CHECK(replay.why.code == errc::auth_failed);

    // The acceptor's own proof (its welcome's MAC) passed back as the dialer's.
    auto a3 = acceptor_of("secret", 2);
    auto c3 = a3.on_frame(payload_of(d.hello_frame()));
    const mac acceptors_proof = decode_mac(payload_of(w.send));
    const auto reflected = a3.on_frame(payload_of(encode_proof(acceptors_proof)));
    CHECK(reflected.is == handshake::status::failed);
    CHECK(reflected.why.code == errc::auth_failed);
}

TEST_CASE("handshake: the secret is chosen by the client's name") {
    const auto lookup = [](std::string_view client) {
        return std::string(client == "guest" ? "guest's own" : "node-wide");
    };
    struct attempt {
        std::string name;
        std::string cookie;
        bool ok;
    };
    for (const attempt& t : {attempt{"guest", "guest's own", true}, attempt{"guest", "node-wide", false},
                             attempt{"other", "guest's own", false}, attempt{"other", "node-wide", true}}) {
        CAPTURE(t.name);
        CAPTURE(t.cookie);
        auto d = dialer_of(t.cookie, t.name);
        auto a = handshake::acceptor({"node1", 1, frame_limit, 0}, "srv", lookup);
        auto c = a.on_frame(payload_of(d.hello_frame()));
        auto p = d.on_frame(payload_of(c.send));
        CHECK((a.on_frame(payload_of(p.send)).is == handshake::status::authenticated) == t.ok);
    }
}

// --- Nodes that know the cookie, and nodes that do not ---------------------------

TEST_CASE("a wrong cookie x1,000: all refused with auth_failed while a friend keeps working; one log line a second") {
    served_node s;
    log_counter refusals("authentication failed");
    const auto started = std::chrono::steady_clock::now();
    std::atomic<bool> done{false};
    std::atomic<int> friend_calls{0};
    std::thread friendly([&] {
        for (std::int64_t i = 0; !done; ++i) {
            const auto r = s.good.try_call("srv", {"math", "add", {i, 1}}, 2s);
            CHECK((r && *r == term(i + 1)));
            ++friend_calls;
        }
    });
    int refused = 0;
    claim stranger;
    stranger.cookie = "not the cookie";
    for (int i = 0; i < 1000; ++i) {
        stranger.name = fmt::format("stranger{}", i);
        raw_client raw(s.port);
        const auto f = raw.try_handshake(stranger);
        if (f && f->code == errc::auth_failed) ++refused;
    }
    done = true;
    friendly.join();
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    CHECK(refused == 1000);
    CHECK(friend_calls > 0);
    CHECK(s.srv.connected() == std::vector<std::string>{"good"});
    CHECK(refusals.count() >= 1);
    CHECK(refusals.count() <= static_cast<int>(seconds) + 1);
    s.good_client_still_served();

    // A node with the wrong cookie: the new code, and a message that says why.
    node_options o = test_node("intruder");
    o.cookie = "not the cookie";
    node intruder(o);
    const auto r = intruder.try_connect("127.0.0.1", dial("intruder", s.port), 2);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::auth_failed);
    CHECK(r.error().message.find("auth") != std::string::npos);
    CHECK(intruder.connected().empty());
}

TEST_CASE("a recorded handshake replayed on a new connection is refused") {
    served_node s;
    // A session with the cookie, as an eavesdropper would record it.
    auto d = handshake::dialer({"rawnode", 1, frame_limit, 0}, "victim", test_cookie);
    byte_vector proof_frame;
    {
        raw_client legit(s.port);
        REQUIRE_FALSE(legit.send(d.hello_frame()));
        const auto challenge = legit.read();
        REQUIRE(challenge.what == incoming::frame);
        proof_frame = d.on_frame(challenge.payload).send;
        REQUIRE_FALSE(legit.send(proof_frame));
        REQUIRE(legit.read().kind() == msg::welcome);
    }
    REQUIRE(eventually([&] { return s.srv.connected("victim") == 0; }));
    // The same bytes again, without the cookie.
    raw_client replay(s.port);
    REQUIRE_FALSE(replay.send(d.hello_frame()));
    REQUIRE(replay.read().kind() == msg::challenge);
    REQUIRE_FALSE(replay.send(proof_frame));
    const failure f = replay.read_refuse();
    CHECK(f.code == errc::auth_failed);
    CHECK(replay.closes());
    CHECK(s.srv.connected("victim") == 0);
    s.good_client_still_served();
}

TEST_CASE("a handshake reflected back to its node is refused, either way round") {
    node s(test_node("S"));
    s.module("math").def("add", [](std::int64_t a, std::int64_t b) { return a + b; });
    const auto s_port = s.start_server(test_server("srv")).port;

    SUBCASE("S's own hello, relayed to S's server") {
        // S dials the attacker, which passes S's hello on to S's own server,
        // hoping S's dialer will then prove the challenge for it.
        std::optional<failure> told;
        fake_server attacker([&](frame_socket&, const hello&, const byte_vector& hello_payload) {
            raw_client relay(s_port);
            REQUIRE_FALSE(relay.send(framed(hello_payload)));
            const incoming in = relay.read();
            REQUIRE(in.what == incoming::frame);
            if (in.kind() == msg::refuse) told = decode_failure(in.payload);
        });
        const auto r = s.try_connect("127.0.0.1", dial("S", attacker.port()), 1);
        attacker.join();
        REQUIRE(told);
        CHECK(told->code == errc::auth_failed);
        CHECK_FALSE(r);
    }
    SUBCASE("S's own challenge, relayed to S's dialer") {
        // The attacker dials S's server for a challenge, then offers it to S
        // when S dials it, hoping S proves S's own challenge.
        raw_client attacker_to_s(s_port);
        claim who;
        who.cookie = "no idea";
        attacker_to_s.start_handshake(who);
        const incoming challenge = attacker_to_s.read();
        REQUIRE(challenge.kind() == msg::challenge);
        bool proved = false;
        fake_server attacker([&](frame_socket& peer, const hello&, const byte_vector&) {
            REQUIRE_FALSE(peer.send(framed(challenge.payload)));
            const incoming in = peer.read();
            proved = in.what == incoming::frame && in.kind() == msg::proof;
        });
        const auto r = s.try_connect("127.0.0.1", dial("S", attacker.port()), 1);
        attacker.join();
        CHECK_FALSE(proved);
        REQUIRE_FALSE(r);
        CHECK(code_of(r.error()) == errc::auth_failed);
        CHECK(r.error().message.find("reflected") != std::string::npos);
    }
    // A node may still connect to itself for real.
    CHECK(s.connect("127.0.0.1", dial("myself", s_port), 2) == "srv");
    CHECK(s.call<int>("srv", {"math", "add", {1, 2}}) == 3);
    CHECK(s.call<int>("myself", {"math", "add", {3, 4}}) == 7);
}

// --- Names lead where they were proved to lead ------------------------------------

TEST_CASE("jail bypass by pool merge: a name keeps leading to the jailed server") {
    // A dials B's server "B", jailed to math; B dials A with its default
    // connection name, "B" again. A's name "B" must keep meaning B's server.
    node a(test_node("A"));
    node b(test_node("B"));
    b.module("math").def("add", [](std::int64_t x, std::int64_t y) { return x + y; });
    b.module("admin").def("secret", [] { return std::string("s3cret"); });
    auto bs = test_server("B");
    bs.jail = "math";
    const auto b_port = b.start_server(bs).port;
    const auto a_port = a.start_server(test_server("A")).port;
    a.connect("127.0.0.1", dial("A", b_port), 2);
    const auto merge = b.try_connect("127.0.0.1", dial("B", a_port), 2);
    REQUIRE_FALSE(merge);
    CHECK(code_of(merge.error()) == errc::name_conflict);
    CHECK(merge.error().message.find("server B of node B") != std::string::npos);
    int escaped = 0;
    for (int i = 0; i < 20; ++i) {
        const auto r = a.try_call("B", {"admin", "secret", {}}, 2s);
        if (r) ++escaped;
        else CHECK(r.error().message == "undefined function math:secret/0");
    }
    CHECK(escaped == 0);
    CHECK(a.connected("B") == 2);
    for (const auto& c : a.connections()) CHECK_FALSE(c.accepted);
}

TEST_CASE("a node connected to itself with default names cannot escape its jail either") {
    node n(test_node("n"));
    n.module("math").def("add", [](std::int64_t x, std::int64_t y) { return x + y; });
    n.module("admin").def("secret", [] { return std::string("s3cret"); });
    auto srv = test_server("n");
    srv.jail = "math";
    const auto port = n.start_server(srv).port;
    const auto r = n.try_connect("127.0.0.1", {.port = port}, 2);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::name_conflict);
    // No connection is left through the jailed server: "n" names no peer. (A
    // call to the node's own name runs in the node, with its own authority:
    // jails bind peers.)
    CHECK(eventually([&] { return n.connections().empty() && n.servers()[0].connections == 0; }));
    CHECK(n.connected("n") == 0);
}

TEST_CASE("pool hijack: a peer claiming another node's name and incarnation does not join its pool") {
    node s(test_node("S"));
    node d(test_node("D"));
    std::atomic<int> served{0};
    d.module("kv").def("get", [&](std::int64_t k) {
        ++served;
        return k;
    });
    const auto d_port = d.start_server(test_server("db")).port;
    s.connect("127.0.0.1", dial("S", d_port), 2);
    const auto s_port = s.start_server(test_server("S")).port;

    // What D says about itself in every handshake, read by a spy with the cookie.
    raw_client spy(d_port);
    const peer_identity d_is = spy.handshake("spy");
    for (const std::string cookie : {std::string(test_cookie), std::string("no cookie")}) {
        CAPTURE(cookie);
        raw_client hijacker(s_port);
        claim as_d;
        as_d.name = "db";
        as_d.node = d_is.node;
        as_d.incarnation = d_is.incarnation;
        as_d.cookie = cookie;
        const auto f = hijacker.try_handshake(as_d);
        REQUIRE(f);
        // Without the cookie it is not even a peer; with it, "db" is taken by D's server.
        CHECK(f->code == (cookie == test_cookie ? errc::name_conflict : errc::auth_failed));
    }
    for (int i = 0; i < 10; ++i) CHECK(s.call("db", {"kv", "get", {i}}, 2s) == term(i));
    CHECK(served == 10);
    CHECK(s.connected("db") == 2);
}

TEST_CASE("per-client jails hold for whoever proves the name, and no name can be chosen to escape them") {
    node srv(test_node("srv"));
    srv.module("math").def("add", [](std::int64_t x, std::int64_t y) { return x + y; });
    auto so = test_server("srv");
    so.jails = {{"guest", "rot"}};
    // A per-client jail without a per-client cookie would be keyed by a claim.
    CHECK(error_of([&] { (void)srv.start_server(so); }).find("guest has a jail but no cookie of its own") !=
          std::string::npos);
    so.cookies = {{"guest", "guest's secret"}};
    const auto port = srv.start_server(so).port;

    // The guest knows only its own secret.
    node_options go = test_node("guest_node");
    go.cookie = "guest's secret";
    node guest(go);
    const auto escape = guest.try_connect("127.0.0.1", dial("admin", port), 1);
    REQUIRE_FALSE(escape);
    CHECK(code_of(escape.error()) == errc::auth_failed);
    CHECK(guest.connect("127.0.0.1", dial("guest", port), 1) == "srv");
    const auto jailed = guest.try_call("srv", {"math", "add", {1, 2}}, 2s);
    REQUIRE_FALSE(jailed);
    CHECK(jailed.error().message == "undefined function rot:add/2");
    CHECK(guest.call("srv", {"rot", "ping", {}}) == term(atom("pong")));

    // The node-wide cookie does not open a name that has its own.
    node insider(test_node("insider"));
    const auto as_guest = insider.try_connect("127.0.0.1", dial("guest", port), 1);
    REQUIRE_FALSE(as_guest);
    CHECK(code_of(as_guest.error()) == errc::auth_failed);
    CHECK(insider.connect("127.0.0.1", dial("insider", port), 1) == "srv");
    CHECK(insider.call<int>("srv", {"math", "add", {1, 2}}) == 3);
}

TEST_CASE("a newer run of a node replaces the older run's connections; an older one is refused") {
    served_node s;
    raw_client old_run(s.port);
    old_run.handshake("cl", 100);
    REQUIRE(eventually([&] { return s.srv.connected("cl") == 1; }));
    // The node restarted (its old connection may be half-open): the new run
    // authenticates and takes the name at once.
    raw_client new_run(s.port);
    new_run.handshake("cl", 200);
    CHECK(old_run.closes(errc::connection_lost));
    CHECK(eventually([&] { return s.srv.connected("cl") == 1; }));
    CHECK(new_run.call(1, {"math", "add", {2, 2}}).value == term(4));

    raw_client older_still(s.port);
    const auto f = older_still.try_handshake({.name = "cl", .incarnation = 50});
    REQUIRE(f);
    CHECK(f->code == errc::name_conflict);
    CHECK(f->message.find("newer run") != std::string::npos);
}

TEST_CASE("a node started within the same millisecond as the run it replaces is still the newer run") {
    served_node s;
    // Runs of a node started back to back (a supervisor restarting at once,
    // or tests): each is newer than the one before, however close in time.
    std::vector<std::unique_ptr<node>> runs;
    for (int i = 0; i < 20; ++i) runs.push_back(std::make_unique<node>(test_node("client")));
    for (auto& run : runs) {
        CHECK(run->connect("127.0.0.1", dial("cl", s.port), 1) == "srv");
        CHECK(s.srv.connected("cl") == 1);
    }
    CHECK(runs.back()->call<int>("srv", {"math", "add", {2, 3}}) == 5);
}

TEST_CASE("two nodes over an in-memory pipe: the handshake and calls as over TCP") {
    node n1(test_node("node1"));
    n1.module("math").def("add", [](std::int64_t a, std::int64_t b) { return a + b; });
    (void)n1.start_server(test_server("srv"));
    node n2(test_node("node2"));
    CHECK(n2.impl().connect_pipe(n1.impl(), "srv", {.name = "cl"}).value() == "srv");
    CHECK(n2.call<int>("srv", {"math", "add", {1, 2}}) == 3);
    CHECK(n1.call("cl", {"rot", "node", {}}) == term(atom("node2")));
    CHECK(n1.connections()[0].remote_address.starts_with("pipe:"));

    node_options o = test_node("node3");
    o.cookie = "wrong";
    node n3(o);
    const auto r = n3.impl().connect_pipe(n1.impl(), "srv", {.name = "cl3"});
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::auth_failed);
}

TEST_CASE("calls made through a name the moment it appears never overtake the welcome") {
    // Regression: the acceptor published the name before queuing its welcome,
    // so a call from another thread could reach the dialer first.
    node b(test_node("B"));
    (void)b.start_server(test_server("srv"));
    node a(test_node("A"));
    std::atomic<bool> done{false};
    std::vector<std::thread> callers;
    for (int i = 0; i < 2; ++i)
        callers.emplace_back([&] {
            while (!done) (void)b.try_cast("cl", {"rot", "ping", {}});
        });
    int failed = 0;
    std::string first_failure;
    const auto port = b.servers()[0].port;
    for (int i = 0; i < 100; ++i) {
        const auto r = a.try_connect("127.0.0.1", dial("cl", port), 1);
        if (!r && failed++ == 0) first_failure = r.error().message;
        a.disconnect("srv");
        REQUIRE(eventually([&] { return b.connected("cl") == 0; }));
    }
    done = true;
    for (auto& t : callers) t.join();
    CHECK_MESSAGE(failed == 0, first_failure);
}

TEST_CASE("stopping a node ends its connects in progress at once, cleanly") {
    // A server that takes the TCP connection (the kernel does) but never answers.
    tcp::acceptor silent(raw_io(), loopback(0));
    node_options o = test_node("n");
    o.connect_timeout = 30s;
    auto n = std::make_unique<node>(o);
    auto pending = std::async(std::launch::async, [&] {
        return n->try_connect("127.0.0.1", dial("cl", silent.local_endpoint().port()), 2);
    });
    REQUIRE(pending.wait_for(200ms) == std::future_status::timeout);  // it waits for a challenge
    n->stop();
    REQUIRE(pending.wait_for(5s) == std::future_status::ready);
    const auto r = pending.get();
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::stopped);
    n.reset();  // no connection outlives what it reports to (ASan: no use after free)
}

TEST_CASE("not even a newer run of a node takes over a name that leads elsewhere") {
    node a(test_node("A"));
    node b(test_node("B"));
    b.module("who").def("am", [] { return atom("real B"); });
    const auto b_port = b.start_server(test_server("B")).port;
    const auto a_port = a.start_server(test_server("A")).port;
    a.connect("127.0.0.1", dial("A", b_port), 1);

    // B's identity, as anyone with the cookie may learn it.
    raw_client spy(b_port);
    const peer_identity b_is = spy.handshake("spy");
    // Claiming a newer run of B, to A's server, as client "B".
    raw_client impostor(a_port);
    claim as_b;
    as_b.name = "B";
    as_b.node = b_is.node;
    as_b.incarnation = b_is.incarnation + 1;
    const auto f = impostor.try_handshake(as_b);
    REQUIRE(f);
    CHECK(f->code == errc::name_conflict);
    CHECK(a.call("B", {"who", "am", {}}, 2s) == term(atom("real B")));
    CHECK(a.connected("B") == 1);
}

TEST_CASE("names an earlier run of a peer held, and its newer run does not take again, are reported down") {
    std::mutex m;  // before the node: its callback may run until the node stops
    std::vector<std::string> down;
    served_node s;
    s.srv.on_peer_down([&](const std::string& peer, const failure&) {
        std::lock_guard lock(m);
        down.push_back(peer);
    });
    raw_client old_run(s.port);
    old_run.handshake("x", 100);
    raw_client new_run(s.port);
    new_run.handshake("y", 200);
    CHECK(old_run.closes(errc::connection_lost));
    CHECK(eventually([&] {
        std::lock_guard lock(m);
        return down == std::vector<std::string>{"x"};
    }));
    CHECK(s.srv.connected() == std::vector<std::string>{"good", "y"});
}

TEST_CASE("a node connected to itself through a dual-stack server is not taken for a reflection") {
    node n(test_node("n"));
    server_options dual = test_server("srv");
    dual.ip = "::";
    std::uint16_t port = 0;
    try {
        port = n.start_server(dual).port;
    } catch (const rot::error& e) {
        MESSAGE("no IPv6 here, nothing to test: " << e.message());
        return;
    }
    CHECK(n.connect("127.0.0.1", dial("me", port), 1) == "srv");
    CHECK(n.call("me", {"rot", "ping", {}}) == term(atom("pong")));
}
