#pragma once
// Options of nodes, servers and connections, and what introspection reports.
// Plain structs: use designated initialisers, e.g.
//   node.start_server({.name = "srv", .port = 0, .jail = "math"});

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace rot {

using namespace std::chrono_literals;

/// Frames may never be larger than this, whatever the options say.
inline constexpr std::size_t max_frame_ceiling = 64u << 20;

struct node_options {
    /// The node's name, as Erlang's node(); also the default name of its
    /// servers and of the connections it dials.
    std::string name = "nonode@nohost";
    /// Threads running the network I/O.
    unsigned io_threads = 1;
    /// Threads running handlers (0: one per core, at least 2).
    unsigned handler_threads = 0;
    /// Largest frame accepted or sent; at most max_frame_ceiling.
    std::size_t max_frame_bytes = 4u << 20;
    /// Timeout of call() when none is given.
    std::chrono::milliseconds call_timeout = 5000ms;
    /// Time allowed to resolve, dial and finish the handshake of one connection.
    std::chrono::milliseconds connect_timeout = 5000ms;
    /// Requests one connection may have running at once; past that the node
    /// stops reading from it until some finish (back-pressure, not failure).
    /// Reading also stops while more than 4 * max_frame_bytes wait to be
    /// written to the peer, and calls to such a peer fail with errc::overloaded.
    std::size_t max_requests_per_connection = 1024;
    /// Bytes of arguments that requests waiting for or running on the handler
    /// pool may hold, per connection; past that the node stops reading from it
    /// until some finish. (Inline handlers read their arguments in place.)
    std::size_t max_request_bytes_per_connection = 64u << 20;
};

struct server_options {
    std::string name;             ///< Default: the node's name.
    std::string ip = "0.0.0.0";   ///< Address to listen on.
    std::uint16_t port = 2222;    ///< 0 picks a free port (see server_info::port).
    unsigned acceptors = 10;      ///< Accepts kept outstanding at once.
    std::string jail;             ///< Module every request is sent to ("": none).
    /// Per-client jails: client name -> module; `jail` is the default.
    std::map<std::string, std::string, std::less<>> jails;
    /// Run handlers of requests arriving here on the I/O thread itself: the
    /// fastest path for short non-blocking handlers, but a slow handler then
    /// stalls every connection of that I/O thread. Default: the handler pool.
    bool inline_handlers = false;
};

struct connect_options {
    std::string name;             ///< How the server will know us. Default: the node's name.
    std::uint16_t port = 2222;
    std::string jail;             ///< Module the server's requests back to us are sent to.
};

/// A running server, as servers() reports it.
struct server_info {
    std::string name;
    std::string ip;
    std::uint16_t port = 0;       ///< The bound port (also when 0 was asked for).
    unsigned acceptors = 0;
    std::string jail;
    std::map<std::string, std::string, std::less<>> jails;
    bool inline_handlers = false;
    std::size_t connections = 0;  ///< Open connections accepted by it.
};

/// One open connection, as connections() reports it.
struct connection_info {
    std::string peer;             ///< The name we call the other side by.
    std::string peer_node;        ///< The other side's node name.
    std::string remote_address;   ///< host:port of the other end.
    bool accepted = false;        ///< True when one of our servers accepted it.
    std::string server;           ///< Our server's name when accepted.
    std::string jail;             ///< The jail applied to requests arriving on it.
    std::size_t calls_pending = 0;///< Our calls waiting for a reply on it.
    std::size_t bytes_queued = 0; ///< Bytes written to it that the peer has not taken yet.
    std::size_t requests_running = 0; ///< Calls and casts from the peer not yet finished.
    std::size_t request_bytes = 0;    ///< Argument bytes those requests hold.
};

}  // namespace rot
