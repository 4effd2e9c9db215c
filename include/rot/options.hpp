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

/// How a server or a connection carries its bytes.
enum class transport { tcp, tls };

/// TLS settings of a server or a connection (transport::tls): paths of PEM files.
/// TLS 1.2 is the oldest version spoken. Cookie authentication runs inside TLS too.
struct tls_options {
    /// Our certificate (chain). Servers need one; connections present one for mutual TLS.
    std::string certificate{};
    /// The private key of that certificate.
    std::string private_key{};
    /// CA certificates the peer's certificate must chain to ("": the system's).
    std::string ca{};
    /// Connections: verify the server's certificate, and that it names the host dialed.
    /// Turning this off leaves the connection open to anyone on the path.
    bool verify_peer = true;
    /// Servers: mutual TLS, clients must present a certificate that chains to `ca`.
    bool require_peer_certificate = false;
    /// After the handshake, the peer's node name must be its certificate's common name
    /// or one of its DNS names (servers: needs require_peer_certificate).
    bool check_node_name = false;
};

struct node_options {
    /// The node's name, as Erlang's node(); also the default name of its
    /// servers and of the connections it dials.
    std::string name = "nonode@nohost";
    /// The secret peers must prove they know (never sent). Empty: read from
    /// cookie_file, else the ROT_COOKIE environment variable, else ~/.rot.cookie
    /// (created with 32 random bytes and mode 0600 when missing).
    std::string cookie{};
    /// A file holding the cookie; it must not be readable by group or others.
    std::string cookie_file{};
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
    /// A frame that has begun must keep arriving: a connection whose partial
    /// frame gets no byte for this long (while it is being read) is closed.
    std::chrono::milliseconds stalled_frame_timeout = 30000ms;
    /// A connection that sent nothing for this long sends a ping.
    std::chrono::milliseconds heartbeat_interval = 15000ms;
    /// A peer not heard from for this long is down: its connection closes and
    /// calls on it end (connection_lost). Also the TCP user timeout. More than
    /// heartbeat_interval (Erlang's net_ticktime is 60 s).
    std::chrono::milliseconds dead_peer_timeout = 60000ms;
    /// How long stop(), stop_server() and disconnect() let handlers already
    /// running finish before they stop waiting for them.
    std::chrono::milliseconds shutdown_grace = 5000ms;
};

struct server_options {
    std::string name{};           ///< Default: the node's name.
    std::string ip = "0.0.0.0";   ///< Address to listen on.
    std::uint16_t port = 2222;    ///< 0 picks a free port (see server_info::port).
    unsigned acceptors = 10;      ///< Accepts kept outstanding at once.
    std::string jail{};           ///< Module every request is sent to ("": none).
    /// Per-client jails: client name -> module; `jail` is the default. A
    /// client name given a jail here must have its own cookie in `cookies`,
    /// so that the jail holds for whoever proves that name, not for whoever claims it.
    std::map<std::string, std::string, std::less<>> jails{};
    /// Per-client cookies: client name -> its own secret (Erlang's
    /// set_cookie(Node, Cookie)). A client that proves it is that name; the
    /// name cannot be used with the node's cookie.
    std::map<std::string, std::string, std::less<>> cookies{};
    /// Run handlers of requests arriving here on the I/O thread itself: the
    /// fastest path for short non-blocking handlers, but a slow handler then
    /// stalls every connection of that I/O thread. Default: the handler pool.
    bool inline_handlers = false;
    rot::transport transport = rot::transport::tcp;
    tls_options tls{};            ///< With transport::tls: certificate and key are required.
    /// Open connections this server keeps; new ones are refused at once past it.
    std::size_t max_connections = 10000;
    /// Connections still in their handshake; new ones are refused at once past it.
    std::size_t max_handshakes = 1000;
};

struct connect_options {
    std::string name{};           ///< How the server will know us. Default: the node's name.
    std::uint16_t port = 2222;
    std::string jail{};           ///< Module the server's requests back to us are sent to.
    /// The secret to prove to this server ("": the node's cookie), e.g. our
    /// own cookie where the server gave our name one.
    std::string cookie{};
    rot::transport transport = rot::transport::tcp;
    tls_options tls{};
    /// Keep the pool (Erlang's connect_link): connections lost are dialed
    /// again, with backoff (1 s, x1.6, +/-20 %, at most 120 s), for as long as
    /// the node runs or until disconnect(). The pool is usable while one
    /// connection is up. Plain pools (false) fail fast and stay down.
    bool supervise = false;
    /// The server's name, if known: a server going by another name is
    /// refused (name_conflict), and a supervised connect whose server is not
    /// up yet returns it at once instead of failing (it connects when the
    /// server appears).
    std::string server{};
};

/// A running server, as servers() reports it.
struct server_info {
    std::string name{};
    std::string ip{};
    std::uint16_t port = 0;       ///< The bound port (also when 0 was asked for).
    unsigned acceptors = 0;
    std::string jail{};
    std::map<std::string, std::string, std::less<>> jails{};
    bool inline_handlers = false;
    rot::transport transport = rot::transport::tcp;
    std::size_t connections = 0;  ///< Open connections accepted by it (handshakes included).
    std::size_t handshakes = 0;   ///< Of those, the ones still in their handshake.
};

/// One open connection, as connections() reports it.
struct connection_info {
    std::string peer{};           ///< The name we call the other side by.
    std::string peer_node{};      ///< The other side's node name.
    std::string remote_address{}; ///< host:port of the other end.
    bool accepted = false;        ///< True when one of our servers accepted it.
    std::string server{};         ///< Our server's name when accepted.
    std::string jail{};           ///< The jail applied to requests arriving on it.
    rot::transport transport = rot::transport::tcp;
    std::size_t calls_pending = 0;///< Our calls waiting for a reply on it.
    std::size_t bytes_queued = 0; ///< Bytes written to it that the peer has not taken yet.
    std::size_t bytes_unsent = 0; ///< Of those, the ones no write has taken yet (calls among them end not_sent if it dies).
    std::size_t requests_running = 0; ///< Calls and casts from the peer not yet finished.
    std::size_t request_bytes = 0;    ///< Argument bytes those requests hold.
    /// Read buffers it holds: the one being read into, and those kept to read
    /// into again (let go after a heartbeat interval without traffic).
    std::size_t read_buffer_bytes = 0;
};

}  // namespace rot
