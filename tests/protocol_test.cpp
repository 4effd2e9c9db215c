// The wire protocol against a real node over 127.0.0.1, spoken by hand
// (raw_peer.hpp). Hostile peers must lose only their own connection while a
// well-behaved client keeps being served.

#include <set>

#include "raw_peer.hpp"

using namespace rot;
using namespace rot::detail;
using namespace rot::test;

// --- The handshake and calls, done by hand -----------------------------------

TEST_CASE("a raw hello gets a welcome; raw calls get replies and typed errors") {
    served_node s;
    raw_client raw(s.port);
    const peer_identity w = raw.handshake("raw");
    CHECK(w.version == 2);
    CHECK(w.name == "srv");
    CHECK(w.node == "server");
    CHECK(w.max_frame == 4u << 20);
    CHECK(w.incarnation != 0);
    CHECK(eventually([&] { return s.srv.connected("raw") == 1; }));

    const response r = raw.call(1, {"math", "add", {1, 2}});
    CHECK(r.ok);
    CHECK(r.id == 1);
    CHECK(r.value == term(3));

    const response e = raw.call(2, {"math", "nope", {1, 2, 3}});
    CHECK_FALSE(e.ok);
    CHECK(e.id == 2);
    CHECK(e.code == errc::undef);
    CHECK(e.message == "undefined function math:nope/3");

    // Ids are the caller's: any non-zero id, in any order.
    const response big = raw.call(1ull << 50, {"rot", "ping", {}});
    CHECK(big.id == 1ull << 50);
    CHECK(big.value == term(atom("pong")));

    // A cast gets no answer, even when it names nothing; the next call is answered.
    REQUIRE_FALSE(raw.send(encode_request(0, {"math", "nope", {}}, max_frame_ceiling)));
    REQUIRE_FALSE(raw.send(encode_request(0, {"math", "add", {1, 1}}, max_frame_ceiling)));
    const response after = raw.call(3, {"math", "add", {5, 5}});
    CHECK(after.id == 3);
    CHECK(after.value == term(10));

    // A goodbye is answered by the close.
    REQUIRE_FALSE(raw.send(encode_goodbye(errc::stopped, "done")));
    CHECK(raw.closes());
    CHECK(eventually([&] { return s.srv.connected("raw") == 0; }));
    s.good_client_still_served();
}

TEST_CASE("version negotiation picks the highest common version") {
    served_node s;
    raw_client raw(s.port);
    REQUIRE_FALSE(raw.send(encode_hello(raw_hello("raw", 1, 0, 7))));
    const incoming in = raw.read();
    REQUIRE_MESSAGE(in.what == incoming::frame, in);
    REQUIRE(in.kind() == msg::challenge);
    CHECK(decode_challenge(in.payload).version == 2);
}

TEST_CASE("version mismatch, server side: refuse with the versions, then close") {
    served_node s;
    // Version 1 had no authentication: its hello is refused, in words it understands.
    for (const auto& [min, max, text] : {std::tuple{1, 1, "client speaks 1..1, server speaks 2..2"},
                                         std::tuple{3, 3, "client speaks 3..3, server speaks 2..2"}}) {
        raw_client raw(s.port);
        hello h = raw_hello("raw", 1, static_cast<std::uint16_t>(min), static_cast<std::uint16_t>(max));
        REQUIRE_FALSE(raw.send(encode_hello(h)));
        const failure f = raw.read_refuse();
        CHECK(f.code == errc::version_mismatch);
        CHECK(f.message == fmt::format("no protocol version in common: {}", text));
        CHECK(raw.closes());
    }
    CHECK(s.srv.connected("raw") == 0);
    s.good_client_still_served();
}

TEST_CASE("version mismatch, client side: a challenge choosing version 9 fails the connect") {
    fake_server fake([](frame_socket& peer, const hello& h, const byte_vector&) {
        challenge c;
        c.version = 9;
        c.max_frame = 4096;
        c.incarnation = h.incarnation + 1;
        c.node = "fake";
        c.name = "fake";
        (void)peer.send(encode_challenge(c));
    });
    node n(test_node("dialer"));
    const auto started = std::chrono::steady_clock::now();
    const auto r = n.try_connect("127.0.0.1", dial("cl", fake.port()), 1);
    CHECK(std::chrono::steady_clock::now() - started <
          1500ms);  // well before connect_timeout (2 s)
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::version_mismatch);
    CHECK(r.error().message ==
          fmt::format("connect to 127.0.0.1:{}: server chose protocol version 9, "
                      "this node speaks 2..2",
                      fake.port()));
    CHECK(n.connected().empty());
    fake.join();
    // What the dialer said, byte for byte as decoded.
    REQUIRE(fake.got_hello);
    CHECK(fake.got_hello->min_version == 2);
    CHECK(fake.got_hello->max_version == 2);
    CHECK(fake.got_hello->flags == 0);
    CHECK(fake.got_hello->max_frame == 4u << 20);
    CHECK(fake.got_hello->node == "dialer");
    CHECK(fake.got_hello->name == "cl");
    CHECK(fake.peer_closed);
}

TEST_CASE("a refuse frame fails the connect with its code and message") {
    fake_server fake([](frame_socket& peer, const hello&, const byte_vector&) {
        (void)peer.send(encode_refuse(errc::name_conflict, "go away"));
    });
    node n(test_node("dialer"));
    const auto r = n.try_connect("127.0.0.1", dial("cl", fake.port()), 1);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::name_conflict);
    CHECK(r.error().message ==
          fmt::format("connect to 127.0.0.1:{}: refused: go away", fake.port()));
    try {
        fake_server again([](frame_socket& peer, const hello&, const byte_vector&) {
            (void)peer.send(encode_refuse(errc::stopped, "server is stopping"));
        });
        (void)n.connect("127.0.0.1", dial("cl", again.port()), 1);
        FAIL("no exception");
    } catch (const rot::error& e) {
        CHECK(e.code() == errc::stopped);
        CHECK(e.message().find("refused: server is stopping") != std::string::npos);
    }
    fake.join();
    CHECK(fake.peer_closed);
}

TEST_CASE("a server that is not rot fails the connect at once") {
    fake_server fake([](frame_socket& peer, const hello&, const byte_vector&) {
        (void)peer.send("HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    node n(test_node("dialer"));
    const auto started = std::chrono::steady_clock::now();
    const auto r = n.try_connect("127.0.0.1", dial("cl", fake.port()), 1);
    CHECK(std::chrono::steady_clock::now() - started < 1500ms);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::frame_too_large);  // "HTTP" read as a length
}

// --- Hostile peers -------------------------------------------------------------

TEST_CASE("a frame header declaring 0xFFFFFFFF bytes closes that connection only") {
    served_node s;
    raw_client raw(s.port);
    raw.handshake();
    REQUIRE_FALSE(raw.send(byte_vector{0xFF, 0xFF, 0xFF, 0xFF}));
    const incoming in = raw.read();
    if (in.what == incoming::frame) {
        REQUIRE(in.kind() == msg::goodbye);
        const failure f = decode_failure(in.payload);
        CHECK(f.code == errc::frame_too_large);
        CHECK(f.message == "frame of 4294967295 bytes exceeds the limit of 4194304 bytes");
        CHECK(raw.closes());
    } else {
        CHECK_MESSAGE(in.what == incoming::closed, in);
    }
    CHECK(eventually([&] { return s.srv.connected("raw") == 0; }));
    s.good_client_still_served();
}

TEST_CASE("a frame just over max_frame_bytes after the handshake closes the connection") {
    node_options o = test_node("server");
    o.max_frame_bytes = 8192;
    served_node s(o);
    raw_client raw(s.port);
    CHECK(raw.handshake().max_frame == 8192);
    REQUIRE_FALSE(raw.send(byte_vector{0x00, 0x00, 0x20, 0x01}));  // 8193
    CHECK(raw.closes(errc::frame_too_large));
    s.good_client_still_served();
}

TEST_CASE("an oversized first frame before the handshake is closed without a word") {
    served_node s;
    raw_client raw(s.port);
    // handshake_max_frame + 1 = 4097 = 0x1001; the body is never sent.
    REQUIRE_FALSE(raw.send(byte_vector{0x00, 0x00, 0x10, 0x01, static_cast<std::uint8_t>(msg::hello)}));
    CHECK(raw.closes());
    s.good_client_still_served();
}

TEST_CASE("a hello of exactly handshake_max_frame bytes is accepted") {
    served_node s;
    raw_client raw(s.port);
    byte_vector frame = encode_hello(raw_hello("raw"));
    frame.resize(4 + handshake_max_frame, 0);  // version 2 ignores what follows the nonce
    frame[0] = 0;
    frame[1] = 0;
    frame[2] = 0x10;
    frame[3] = 0x00;
    REQUIRE_FALSE(raw.send(frame));
    const incoming in = raw.read();
    REQUIRE_MESSAGE(in.what == incoming::frame, in);
    CHECK(in.kind() == msg::challenge);
}

TEST_CASE("HTTP as the first bytes closes the connection") {
    served_node s;
    raw_client raw(s.port);
    (void)raw.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    CHECK(raw.closes());
    s.good_client_still_served();
}

TEST_CASE("anything but a hello first closes the connection") {
    served_node s;
    for (const byte_vector& first :
         {encode_request(1, {"math", "add", {1, 2}}, max_frame_ceiling), encode_welcome(mac{}), encode_proof(mac{}),
          encode_challenge(challenge{}), byte_vector{0, 0, 0, 0}, byte_vector{0, 0, 0, 1, 0x63}}) {
        raw_client raw(s.port);
        REQUIRE_FALSE(raw.send(first));
        CHECK(raw.closes());
    }
    // A hello with bad magic or a bad name.
    byte_vector bad_magic = encode_hello(raw_hello("raw"));
    bad_magic[5] = 'X';
    hello bad_name = raw_hello("r\xff");
    hello empty_name = raw_hello("");
    for (const byte_vector& first : {bad_magic, encode_hello(bad_name)}) {
        raw_client raw(s.port);
        REQUIRE_FALSE(raw.send(first));
        CHECK(raw.closes());
    }
    // An empty name is refused with a reason.
    raw_client raw(s.port);
    REQUIRE_FALSE(raw.send(encode_hello(empty_name)));
    const incoming in = raw.read();
    REQUIRE_MESSAGE(in.what == incoming::frame, in);
    REQUIRE(in.kind() == msg::refuse);
    CHECK(decode_failure(in.payload).code == errc::invalid_argument);
    CHECK(raw.closes());
    s.good_client_still_served();
}

TEST_CASE("an unknown message kind after the handshake: goodbye(protocol_error), then close") {
    served_node s;
    for (const std::uint8_t kind :
         {0, 11, 42, 255, int(msg::hello), int(msg::welcome), int(msg::refuse), int(msg::challenge),
          int(msg::proof)}) {
        CAPTURE(int(kind));
        raw_client raw(s.port);
        raw.handshake();
        REQUIRE_FALSE(raw.send(byte_vector{0, 0, 0, 3, kind, 1, 2}));
        CHECK(raw.closes(errc::protocol_error));
    }
    // An empty frame too.
    raw_client raw(s.port);
    raw.handshake();
    REQUIRE_FALSE(raw.send(byte_vector{0, 0, 0, 0}));
    CHECK(raw.closes(errc::protocol_error));
    s.good_client_still_served();
}

TEST_CASE("replies and errors for ids the server never sent are ignored") {
    served_node s;
    raw_client raw(s.port);
    raw.handshake();
    REQUIRE_FALSE(raw.send(encode_reply(999, term(1), max_frame_ceiling)));
    REQUIRE_FALSE(raw.send(encode_error(998, errc::undef, "nobody asked")));
    // Even an unknown id whose value does not decode: it is never looked at.
    REQUIRE_FALSE(raw.send(byte_vector{0, 0, 0, 3, static_cast<std::uint8_t>(msg::reply), 0x7F, 42}));
    const response r = raw.call(1, {"math", "add", {2, 2}});
    CHECK(r.id == 1);
    CHECK(r.value == term(4));
    CHECK(s.srv.connected("raw") == 1);
    s.good_client_still_served();
}

TEST_CASE("a malformed call header closes the connection with goodbye(protocol_error)") {
    served_node s;
    const std::uint8_t call = static_cast<std::uint8_t>(msg::call);
    const std::vector<byte_vector> payloads{
        {call},                                 // no id
        {call, 0},                              // id 0
        {call, 1, 16, 'm'},                     // module longer than the frame
        {call, 1, 1, 'm', 1, 'f'},              // no argument list
        {call, 1, 1, 'm', 1, 'f', 4, 0},        // arguments in a tuple
        {call, 1, 1, 'm', 1, 'f', 6, 0x7F, 1},  // a list of 127 in 1 byte
        {call, 1, 1, 0xFF, 1, 'f', 6, 0},       // module not UTF-8
    };
    for (const byte_vector& p : payloads) {
        CAPTURE(p.size());
        raw_client raw(s.port);
        raw.handshake();
        REQUIRE_FALSE(raw.send(framed(p)));
        CHECK(raw.closes(errc::protocol_error));
    }
    s.good_client_still_served();
}

TEST_CASE("malformed arguments get an error reply; the connection stays open") {
    served_node s;
    raw_client raw(s.port);
    raw.handshake();
    // math:add/2 by its header; its two "terms" are garbage.
    const byte_vector bad = framed({static_cast<std::uint8_t>(msg::call), 5,  // call, id 5
                               4, 'm', 'a', 't', 'h', 3, 'a', 'd', 'd',  // math, add
                               6, 2, 0xFF, 0xFF, 0xFF, 0xFF});           // list of 2: garbage
    REQUIRE_FALSE(raw.send(bad));
    const response e = raw.read_response();
    CHECK(e.id == 5);
    CHECK_FALSE(e.ok);
    CHECK(e.code == errc::protocol_error);
    CHECK(e.message.starts_with("malformed arguments: "));
    CHECK(raw.call(6, {"math", "add", {1, 2}}).value == term(3));
    s.good_client_still_served();
}

TEST_CASE("the jail is applied from the header, before the arguments are decoded") {
    server_options jailed = test_server("srv");
    jailed.jail = "math";
    served_node s(test_node("server"), jailed);
    raw_client raw(s.port);
    raw.handshake();
    // {evil, nope, <2 garbage terms>}: the jail and the lookup decide first.
    const byte_vector bad = framed({static_cast<std::uint8_t>(msg::call), 7,  // call, id 7
                               4, 'e', 'v', 'i', 'l', 3, 'n', 'o', 'p',  // evil, nop
                               6, 2, 0xFF, 0xFF, 0xFF, 0xFF});           // list of 2: garbage
    REQUIRE_FALSE(raw.send(bad));
    const response e = raw.read_response();
    CHECK(e.code == errc::undef);
    CHECK(e.message == "undefined function math:nop/2");
    CHECK(raw.call(8, {"evil", "add", {1, 2}}).value == term(3));
    CHECK(raw.call(9, {"add", {3, 4}}).value == term(7));
}

TEST_CASE("a peer that says nothing is closed after connect_timeout") {
    node_options o = test_node("server");
    o.connect_timeout = 300ms;
    served_node s(o);
    raw_client raw(s.port);
    const auto started = std::chrono::steady_clock::now();
    CHECK(raw.closes(std::nullopt, 3s));
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(waited >= 250ms);
    CHECK(waited < 2500ms);
    s.good_client_still_served();
}

TEST_CASE("half a hello, then silence, is closed after connect_timeout too") {
    node_options o = test_node("server");
    o.connect_timeout = 300ms;
    served_node s(o);
    raw_client raw(s.port);
    const byte_vector hello = encode_hello(raw_hello("raw"));
    REQUIRE_FALSE(raw.send(byte_vector(hello.begin(), hello.begin() + 10)));
    CHECK(raw.closes(std::nullopt, 3s));
    s.good_client_still_served();
}

// --- Frames split and joined -----------------------------------------------------

TEST_CASE("a handshake and a call sent one byte at a time still get their answers") {
    served_node s;
    raw_client raw(s.port);
    auto h = handshake::dialer({"rawnode", 1, 1u << 20, 0}, "raw", test_cookie);
    REQUIRE_FALSE(raw.send_bytewise(h.hello_frame()));
    for (;;) {
        const incoming in = raw.read();
        REQUIRE_MESSAGE(in.what == incoming::frame, in);
        const auto step = h.on_frame(in.payload);
        REQUIRE(step.is != handshake::status::failed);
        if (step.is == handshake::status::authenticated) break;
        REQUIRE_FALSE(raw.send_bytewise(step.send));
    }
    REQUIRE_FALSE(
        raw.send_bytewise(encode_request(1, {"math", "add", {100, 23}}, max_frame_ceiling)));
    const response r = raw.read_response();
    CHECK(r.id == 1);
    CHECK(r.value == term(123));
}

TEST_CASE("ten calls in one write all get replies") {
    served_node s;
    raw_client raw(s.port);
    raw.handshake();
    byte_vector batch;
    for (std::uint64_t id = 1; id <= 10; ++id) {
        const byte_vector f = encode_request(id, {"math", "add", {static_cast<std::int64_t>(id), 1000}},
                                        max_frame_ceiling);
        batch.insert(batch.end(), f.begin(), f.end());
    }
    REQUIRE_FALSE(raw.send(batch));
    std::set<std::uint64_t> ids;
    for (int i = 0; i < 10; ++i) {
        const response r = raw.read_response();
        CHECK(r.ok);
        CHECK(r.value == term(static_cast<std::int64_t>(r.id) + 1000));
        ids.insert(r.id);
    }
    CHECK(ids.size() == 10);
    CHECK(*ids.begin() == 1);
    CHECK(*ids.rbegin() == 10);
}

TEST_CASE("a proof and a call in one write: the call is read after the welcome") {
    served_node s;
    raw_client raw(s.port);
    auto h = handshake::dialer({"rawnode", 1, 1u << 20, 0}, "raw", test_cookie);
    REQUIRE_FALSE(raw.send(h.hello_frame()));
    const incoming challenge = raw.read();
    REQUIRE_MESSAGE(challenge.what == incoming::frame, challenge);
    byte_vector both = h.on_frame(challenge.payload).send;
    const byte_vector call = encode_request(1, {"math", "add", {1, 1}}, max_frame_ceiling);
    both.insert(both.end(), call.begin(), call.end());
    REQUIRE_FALSE(raw.send(both));
    const incoming in = raw.read();
    REQUIRE_MESSAGE(in.what == incoming::frame, in);
    REQUIRE(in.kind() == msg::welcome);
    CHECK(h.on_frame(in.payload).is == handshake::status::authenticated);
    CHECK(raw.read_response().value == term(2));
}

// --- Names ---------------------------------------------------------------------------

TEST_CASE("name conflict at the handshake: a second node claiming a taken name is refused") {
    served_node s;
    raw_client first(s.port);
    first.handshake("dup", 1);
    // Another connection of the same node (same incarnation) joins the pool.
    raw_client same(s.port);
    same.handshake("dup", 1);
    CHECK(eventually([&] { return s.srv.connected("dup") == 2; }));

    raw_client second(s.port);
    claim other;
    other.name = "dup";
    other.node = "othernode@127.0.0.1";
    const auto f = second.try_handshake(other);
    REQUIRE(f);
    CHECK(f->code == errc::name_conflict);
    CHECK(f->message.find("name dup is already taken") != std::string::npos);
    CHECK(second.closes());

    // The holder of the name is untouched.
    CHECK(s.srv.connected("dup") == 2);
    CHECK(first.call(1, {"math", "add", {1, 2}}).value == term(3));
    s.good_client_still_served();
}

// --- Error messages ------------------------------------------------------------------

TEST_CASE("a handler's non-UTF-8 exception text reaches the caller as errc::exception") {
    // The message is the handler's what(), arbitrary bytes. It must come back
    // as the call's error; it must not make the caller's node drop the
    // connection (and every other call on it) as a protocol error.
    served_node s;
    const auto r = s.good.try_call("srv", {"math", "latin1", {}}, 2s);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::exception);
    CHECK(r.error().message.starts_with("exception in math:latin1/0: cannot open /tmp/caf"));
    s.good_client_still_served();
}

TEST_CASE("a long exception message reaches a caller with the smallest frame limit") {
    // max_frame_bytes may be as small as handshake_max_frame (4096); an error
    // reply must fit it, as encode_error's comment promises, rather than make
    // the caller close the connection as frame_too_large.
    served_node s;
    node_options o = test_node("small_node");
    o.max_frame_bytes = handshake_max_frame;
    node small(o);
    small.connect("127.0.0.1", dial("small", s.port), 1);
    const auto r = small.try_call("srv", {"math", "verbose", {}}, 2s);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::exception);
    CHECK(r.error().message.starts_with("exception in math:verbose/0: vvv"));
    CHECK(small.call<std::int64_t>("srv", {"math", "add", {1, 2}}, 2s) == 3);
    const auto big = s.good.try_call("srv", {"math", "verbose", {}}, 2s);
    REQUIRE_FALSE(big);
    CHECK(code_of(big.error()) == errc::exception);
}

// --- Back-pressure on writes --------------------------------------------------

TEST_CASE("a peer that does not read its replies stops being read; nothing is lost") {
    auto options = test_node("server");
    options.max_frame_bytes = 16 * 1024;  // write limit: 4 frames = 64 KiB
    options.max_requests_per_connection = 8;
    std::atomic<int> ran{0};
    served_node s(options);
    s.srv.module("blob").def("get", [&](std::int64_t i) {
        ++ran;
        return tuple(i, byte_vector(8000, 7));
    });
    raw_client raw(s.port);
    raw.handshake("flood");

    // 4,000 replies of 8 KB would be 32 MB: far more than socket buffers hold.
    constexpr int calls = 4000;
    byte_vector requests;
    for (int i = 1; i <= calls; ++i) append_request(requests, static_cast<std::uint64_t>(i), {"blob", "get", {i}}, 1u << 20);
    REQUIRE_FALSE(raw.send(requests));
    const auto queued = [&] {
        for (const auto& c : s.srv.connections())
            if (c.peer == "flood") return c.bytes_queued;
        return std::size_t{0};
    };
    // The node fills the socket, queues up to its limit, then stops reading.
    // Bounded by the limit plus the replies of requests already running.
    REQUIRE(eventually([&] { return queued() > 32 * 1024; }, 10s));
    CHECK(queued() <= 64 * 1024 + 8 * 8200);
    CHECK(ran < calls);
    s.good_client_still_served();

    // Reading again lets everything through (handlers run concurrently, so in any order).
    std::set<std::uint64_t> answered;
    for (int i = 1; i <= calls; ++i) {
        const response r = raw.read_response();
        REQUIRE(r.ok);
        answered.insert(r.id);
    }
    CHECK(answered.size() == calls);
    CHECK(*answered.rbegin() == calls);
    CHECK(ran == calls);
    CHECK(eventually([&] { return queued() == 0; }));
}

TEST_CASE("reading stops once requests for the handler pool hold max_request_bytes_per_connection") {
    auto options = test_node("server");
    options.max_request_bytes_per_connection = 64 * 1024;
    options.handler_threads = 8;  // the held requests must leave some for the good client
    gate held;
    served_node s(options);
    s.srv.module("hold").def("size", [&](const byte_vector& b) {
        REQUIRE(held.wait());
        return static_cast<std::int64_t>(b.size());
    });
    raw_client raw(s.port);
    raw.handshake("flood");

    // 40 requests of 16 KiB: the fourth takes the arguments held past 64 KiB.
    constexpr int calls = 40;
    byte_vector requests;
    for (int i = 1; i <= calls; ++i)
        append_request(requests, static_cast<std::uint64_t>(i), {"hold", "size", {byte_vector(16 * 1024, 1)}}, 1u << 20);
    // Sent from another thread: once reading stops, the kernel buffers may not hold it all.
    std::thread sender([&] { CHECK_FALSE(raw.send(requests)); });
    struct join_sender {
        std::thread& t;
        gate& g;
        ~join_sender() {
            if (t.joinable()) {
                try { g.open(); } catch (const std::future_error&) {}
                t.join();
            }
        }
    } joined{sender, held};
    const auto flood = [&] {
        for (const auto& c : s.srv.connections())
            if (c.peer == "flood") return c;
        return connection_info{};
    };
    REQUIRE(eventually([&] { return flood().requests_running == 4; }));
    CHECK(flood().request_bytes >= 64 * 1024);
    s.good_client_still_served();
    // Reading stopped there (not a snapshot on the way up): still four after a round trip.
    CHECK(flood().requests_running == 4);

    held.open();
    sender.join();
    std::set<std::uint64_t> answered;
    for (int i = 1; i <= calls; ++i) {
        const response r = raw.read_response();
        REQUIRE(r.ok);
        CHECK(r.value == term(std::int64_t{16 * 1024}));
        answered.insert(r.id);
    }
    CHECK(answered.size() == calls);
    CHECK(eventually([&] { return flood().requests_running == 0 && flood().request_bytes == 0; }));
}

TEST_CASE("calls to a peer that does not read fail fast with overloaded") {
    std::promise<void> release;
    auto released = release.get_future().share();
    fake_server fake([released](frame_socket& peer, const hello&, const byte_vector& hello) {
        REQUIRE(accept_handshake(peer, hello, "sloth@127.0.0.1", "sloth"));
        released.wait_for(20s);  // never reads until the test is done
    });
    auto options = test_node("eager");
    options.max_frame_bytes = 64 * 1024;  // write limit 256 KiB
    node n(options);
    n.connect("127.0.0.1", dial("eager", fake.port()), 1);
    const byte_vector chunk(60 * 1024, 1);
    std::optional<failure> refused;
    // Bounded: 2,000 casts of 60 KB would be 120 MB.
    for (int i = 0; i < 2000 && !refused; ++i)
        if (auto r = n.try_cast("sloth", {"m", "f", {chunk}}); !r) refused = r.error();
    REQUIRE(refused);
    CHECK(refused->code == errc::overloaded);
    CHECK(refused->message.find("not reading") != std::string::npos);
    CHECK(n.connections()[0].bytes_queued <= 256 * 1024 + 64 * 1024);
    const auto call = n.try_call("sloth", {"m", "f", {1}}, 1s);
    REQUIRE_FALSE(call);
    CHECK(call.error().code == errc::overloaded);
    release.set_value();
    n.disconnect("sloth");
}

TEST_CASE("replies that cross the write limit within one batch do not stop reading (inline handlers)") {
    // Regression: the batch's replies went out at once, so no write completion
    // came to resume reading, and the connection stalled with requests unread.
    for (const bool inline_handlers : {true, false}) {
        CAPTURE(inline_handlers);
        auto options = test_node("server");
        options.max_frame_bytes = 4096;  // write limit 16 KiB
        auto srv = test_server("srv");
        srv.inline_handlers = inline_handlers;
        served_node s(options, srv);
        s.srv.module("blob").def("get", [](std::int64_t) { return std::string(3072, 'x'); });
        raw_client raw(s.port);
        raw.handshake("burst");
        byte_vector requests;
        constexpr int calls = 64;
        for (int i = 1; i <= calls; ++i) append_request(requests, static_cast<std::uint64_t>(i), {"blob", "get", {i}}, 4096);
        REQUIRE_FALSE(raw.send(requests));
        std::set<std::uint64_t> answered;
        for (int i = 0; i < calls; ++i) {
            const response r = raw.read_response();
            REQUIRE(r.ok);
            answered.insert(r.id);
        }
        CHECK(answered.size() == calls);
    }
}

TEST_CASE("connections closed while saying hello are not left attached") {
    // Regression: stop_server() during handshakes left dead connections in
    // the peer table (listed by connected(), picked for calls, never freed).
    auto options = test_node("server");
    options.io_threads = 4;  // handshakes and the stop run on different threads
    served_node s(options);
    for (int round = 0; round < 40; ++round) {
        CAPTURE(round);
        const auto info = s.srv.start_server(test_server(fmt::format("s{}", round)));
        std::vector<std::unique_ptr<raw_client>> clients;
        for (int i = 0; i < 30; ++i) clients.push_back(std::make_unique<raw_client>(info.port));
        claim half;
        half.name = "half";
        for (auto& c : clients) c->start_handshake(half);
        // Each sends its proof without waiting for the welcome; stop as soon as
        // the first is through: the others are mid-handshake.
        for (auto& c : clients) REQUIRE(c->step_handshake().is == handshake::status::in_progress);
        REQUIRE(eventually([&] { return s.srv.connected("half") > 0; }));
        s.srv.stop_server(info.name);
        REQUIRE(eventually([&] { return s.srv.connected("half") == 0; }, 5s));
    }
    s.good_client_still_served();
}
