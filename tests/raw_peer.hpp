#pragma once
// A peer that speaks the wire protocol by hand over 127.0.0.1: Asio's
// synchronous sockets, frames written byte by byte as docs/PROTOCOL.md
// describes them, reads with a deadline (poll), so that every test is bounded
// in time without sleeping. The handshake runs the library's own state
// machine (handshake.hpp), fed whatever names, incarnation and cookie the
// test claims: a hostile peer claims what it likes.

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <thread>

#include "frame.hpp"
#include "handshake.hpp"
#include "support.hpp"

namespace rot::test {

using namespace rot::detail;
using asio::ip::tcp;

inline constexpr auto read_limit = 3s;

inline asio::io_context& raw_io() {
    static asio::io_context io;  // synchronous operations only: never run
    return io;
}

inline tcp::endpoint loopback(std::uint16_t port) { return {asio::ip::make_address("127.0.0.1"), port}; }

inline connect_options dial(std::string name, std::uint16_t port) {
    connect_options o;
    o.name = std::move(name);
    o.port = port;
    return o;
}

/// The resident memory of this process.
inline std::int64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * ::sysconf(_SC_PAGESIZE);
}

/// Waits until `fd` is readable (or hung up); false at the deadline.
inline bool wait_readable(int fd, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= 0ms) return false;
        pollfd p{fd, POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return true;  // let the read report the error
    }
}

/// What one read saw: a frame's payload, the end of the connection, or nothing in time.
struct incoming {
    enum what_t { frame, closed, timed_out } what;
    byte_vector payload;

    [[nodiscard]] msg kind() const { return payload_kind(payload); }
};

inline std::ostream& operator<<(std::ostream& os, const incoming& in) {
    switch (in.what) {
        case incoming::frame: return os << "frame of kind " << (in.payload.empty() ? -1 : int(in.payload[0]));
        case incoming::closed: return os << "closed";
        case incoming::timed_out: return os << "timed out";
    }
    return os;
}

/// A reply or an error, owning its data.
struct response {
    std::uint64_t id = 0;
    bool ok = false;
    std::error_code code;
    std::string message;
    term value;
};

inline response to_response(const incoming& in) {
    REQUIRE(in.what == incoming::frame);
    const response_view v = decode_response(in.payload);
    response r{v.id, v.ok, v.code, std::string(v.message), {}};
    if (v.ok) r.value = from_binary(v.value);
    return r;
}

/// A stream socket speaking frames synchronously.
class frame_socket {
public:
    explicit frame_socket(tcp::socket s) : s_(std::move(s)) { s_.set_option(tcp::no_delay(true)); }

    /// Writes all of `bytes`; the error (if the peer is gone) is returned, not thrown.
    std::error_code send(const byte_vector& bytes) {
        std::error_code ec;
        asio::write(s_, asio::buffer(bytes), ec);
        return ec;
    }
    std::error_code send(std::string_view text) { return send(byte_vector(text.begin(), text.end())); }
    /// Sends `bytes` one write per byte.
    std::error_code send_bytewise(const byte_vector& bytes) {
        for (const std::uint8_t b : bytes)
            if (auto ec = send(byte_vector{b})) return ec;
        return {};
    }

    /// The next frame, or closed / timed_out.
    incoming read(std::chrono::milliseconds limit = read_limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            std::span<const std::uint8_t> payload;
            std::size_t size = 0;
            const auto status = parse_frame(buf_, max_frame_ceiling, payload, size);
            REQUIRE(status != frame_status::too_large);
            if (status == frame_status::complete) {
                incoming in{incoming::frame, byte_vector(payload.begin(), payload.end())};
                buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(size));
                return in;
            }
            if (!wait_readable(s_.native_handle(), deadline)) return {incoming::timed_out, {}};
            std::uint8_t chunk[4096];
            std::error_code ec;
            const std::size_t n = s_.read_some(asio::buffer(chunk), ec);
            if (ec) return {incoming::closed, {}};  // eof, or a reset after the peer closed
            buf_.insert(buf_.end(), chunk, chunk + n);
        }
    }

    /// Reads a reply or error; fails the test on anything else.
    response read_response(std::chrono::milliseconds limit = read_limit) {
        const incoming in = read(limit);
        REQUIRE_MESSAGE(in.what == incoming::frame, in);
        const msg k = in.kind();
        REQUIRE((k == msg::reply || k == msg::error));
        return to_response(in);
    }

    /// Reads a refuse and returns it; fails the test on anything else.
    failure read_refuse(std::chrono::milliseconds limit = read_limit) {
        const incoming in = read(limit);
        REQUIRE_MESSAGE(in.what == incoming::frame, in);
        REQUIRE(in.kind() == msg::refuse);
        return decode_failure(in.payload);
    }

    /// True if the peer closes within `limit`, after at most one goodbye
    /// frame, whose code must then be `goodbye_code`. With no goodbye_code no
    /// frame at all may arrive first.
    bool closes(std::optional<errc> goodbye_code = std::nullopt, std::chrono::milliseconds limit = read_limit) {
        incoming in = read(limit);
        if (in.what == incoming::frame) {
            REQUIRE_MESSAGE(goodbye_code.has_value(), "unexpected frame of kind " << int(in.payload[0]));
            REQUIRE(in.kind() == msg::goodbye);
            CHECK(decode_failure(in.payload).code == *goodbye_code);
            in = read(limit);
        }
        CHECK_MESSAGE(in.what == incoming::closed, in);
        return in.what == incoming::closed;
    }

    tcp::socket& socket() noexcept { return s_; }

private:
    tcp::socket s_;
    byte_vector buf_;
};

/// A frame around a payload written by hand.
inline byte_vector framed(const byte_vector& payload) {
    const auto n = static_cast<std::uint32_t>(payload.size());
    byte_vector frame{static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                 static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
    frame.insert(frame.end(), payload.begin(), payload.end());
    return frame;
}

/// A hello written field by field, for hellos no honest dialer sends.
inline hello raw_hello(std::string name, std::uint64_t incarnation = 1, std::uint16_t min = min_protocol_version,
                       std::uint16_t max = max_protocol_version) {
    hello h;
    h.min_version = min;
    h.max_version = max;
    h.max_frame = 1u << 20;
    h.incarnation = incarnation;
    h.node = "rawnode@127.0.0.1";
    h.name = std::move(name);
    h.nonce = random_nonce();
    return h;
}

/// Who a raw peer claims to be, and the secret it proves.
struct claim {
    std::string name = "raw";
    std::uint64_t incarnation = 1;
    std::string node = "rawnode@127.0.0.1";
    std::string cookie = test_cookie;
    std::uint32_t max_frame = 1u << 20;
};

/// A hand-written client: connects, and speaks only when told to.
class raw_client : public frame_socket {
public:
    explicit raw_client(std::uint16_t port) : frame_socket(connect(port)) {}

    /// Sends the hello of `who`; step_handshake() goes on from there.
    void start_handshake(const claim& who) {
        handshake_.emplace(detail::handshake::dialer({who.node, who.incarnation, who.max_frame, 0}, who.name, who.cookie));
        REQUIRE_FALSE(send(handshake_->hello_frame()));
    }
    /// Reads the server's next handshake frame, answers it, and says where it
    /// stands (a close counts as a failure, connection_lost).
    detail::handshake::step step_handshake(std::chrono::milliseconds limit = read_limit) {
        const incoming in = read(limit);
        if (in.what != incoming::frame)
            return {detail::handshake::status::failed, {}, {make_error_code(errc::connection_lost), "no answer"}};
        auto s = handshake_->on_frame(in.payload);
        if (!s.send.empty()) REQUIRE_FALSE(send(s.send));
        return s;
    }
    /// The whole handshake; nullopt on success, else why it failed.
    std::optional<failure> try_handshake(const claim& who = {}) {
        start_handshake(who);
        for (;;) {
            auto s = step_handshake();
            if (s.is == detail::handshake::status::authenticated) return std::nullopt;
            if (s.is == detail::handshake::status::failed) return s.why;
        }
    }
    /// The whole handshake, which must succeed; what the server proved.
    peer_identity handshake(std::string name = "raw", std::uint64_t incarnation = 1) {
        claim who;
        who.name = std::move(name);
        who.incarnation = incarnation;
        const auto failed = try_handshake(who);
        REQUIRE_MESSAGE(!failed, (failed ? failed->message : ""));
        return handshake_->peer();
    }

    /// Calls m:f(args) and returns the reply or error.
    response call(std::uint64_t id, const mfa& request) {
        REQUIRE_FALSE(send(encode_request(id, request, max_frame_ceiling)));
        return read_response();
    }

private:
    static tcp::socket connect(std::uint16_t port) {
        tcp::socket s(raw_io());
        s.connect(loopback(port));
        return s;
    }
    std::optional<detail::handshake> handshake_;
};

/// A node with a server, math:add/2 exported, and a well-behaved rot client
/// ("good") connected to it, which must keep working whatever raw peers do.
struct served_node {
    node srv;
    node good{test_node("good_node")};
    std::uint16_t port = 0;

    explicit served_node(node_options options = test_node("server"), server_options server = test_server("srv"))
        : srv(std::move(options)) {
        srv.module("math")
            .def("add", [](std::int64_t a, std::int64_t b) { return a + b; })
            .def("latin1", []() -> int { throw std::runtime_error("cannot open /tmp/caf\xe9"); })
            .def("verbose", []() -> int { throw std::runtime_error(std::string(5000, 'v')); });
        port = srv.start_server(std::move(server)).port;
        good.connect("127.0.0.1", dial("good", port), 1);
    }

    void good_client_still_served() {
        CHECK(good.call<std::int64_t>("srv", {"math", "add", {40, 2}}, 2s) == 42);
        CHECK(srv.connected("good") == 1);
    }
};

/// Runs the acceptor's side of the handshake over `peer`, whose hello has
/// been read already; true when it authenticated.
inline bool accept_handshake(frame_socket& peer, const byte_vector& hello_payload, std::string node = "fake",
                             std::string server = "fake", std::uint64_t incarnation = 7,
                             std::uint32_t max_frame = 1u << 20) {
    auto h = handshake::acceptor({std::move(node), incarnation, max_frame, 0}, std::move(server),
                                 [](std::string_view) { return std::string(test_cookie); });
    auto s = h.on_frame(hello_payload);
    for (;;) {
        if (!s.send.empty() && peer.send(s.send)) return false;
        if (s.is != handshake::status::in_progress) return s.is == handshake::status::authenticated;
        const incoming in = peer.read();
        if (in.what != incoming::frame) return false;
        s = h.on_frame(in.payload);
    }
}

/// A fake rot server on 127.0.0.1 running `script` for its first connection
/// on its own thread; it records the hello it was sent.
class fake_server {
public:
    using script_t = std::function<void(frame_socket&, const hello&, const byte_vector& hello_payload)>;

    explicit fake_server(script_t script) : acceptor_(raw_io(), loopback(0)) {
        port_ = acceptor_.local_endpoint().port();
        thread_ = std::thread([this, script = std::move(script)] { run(script); });
    }
    ~fake_server() { join(); }

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    void join() {
        if (thread_.joinable()) thread_.join();
    }
    // Read after join().
    std::optional<hello> got_hello;
    bool peer_closed = false;

private:
    void run(const script_t& script) {
        if (!wait_readable(acceptor_.native_handle(), std::chrono::steady_clock::now() + 5s)) return;
        tcp::socket s(raw_io());
        std::error_code ec;
        acceptor_.accept(s, ec);
        if (ec) return;
        frame_socket peer(std::move(s));
        const incoming in = peer.read();
        if (in.what != incoming::frame || in.payload[0] != static_cast<std::uint8_t>(msg::hello)) return;
        try {
            got_hello = decode_hello(in.payload);
        } catch (const rot::error&) {
            return;
        }
        script(peer, *got_hello, in.payload);
        // The dialer must close its end now: wait for it (bounded).
        for (;;) {
            const incoming next = peer.read();
            if (next.what == incoming::frame) continue;
            peer_closed = next.what == incoming::closed;
            break;
        }
    }

    tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

}  // namespace rot::test
