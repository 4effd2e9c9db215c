// Every option, checked once, where each entry point takes it: a bad value is
// a clear invalid_argument at start, never a node that silently misbehaves.

#include <fmt/format.h>

#include "auth.hpp"
#include "limits.hpp"
#include "node_impl.hpp"

namespace rot::detail {

namespace {
[[noreturn]] void fail(std::string message) { throw error(errc::invalid_argument, std::move(message)); }

template <class T>
void in_range(std::string_view what, T value, T lo, T hi) {
    if (value < lo || value > hi) fail(fmt::format("{} must be {}..{} (it is {})", what, lo, hi, value));
}
}  // namespace

void check_name(std::string_view name, std::string_view what, bool may_be_empty) {
    if ((name.empty() && !may_be_empty) || name.size() > max_name_bytes)
        fail(fmt::format("{} must be {} to {} bytes (\"{}\" is {})", what, may_be_empty ? 0 : 1, max_name_bytes,
                         name.substr(0, 32), name.size()));
}

void check_options(const node_options& o) {
    check_name(o.name, "the node's name");
    if (!o.cookie.empty()) check_cookie(o.cookie, "the node's cookie");
    in_range<unsigned>("io_threads", o.io_threads, 1, max_io_threads);
    in_range<unsigned>("handler_threads", o.handler_threads, 0, max_handler_threads);
    in_range<std::size_t>("max_frame_bytes", o.max_frame_bytes, min_frame_limit, max_frame_ceiling);
    in_range<std::int64_t>("call_timeout (ms)", o.call_timeout.count(), 1, max_timeout_ms);
    in_range<std::int64_t>("connect_timeout (ms)", o.connect_timeout.count(), 1, max_timeout_ms);
    in_range<std::int64_t>("stalled_frame_timeout (ms)", o.stalled_frame_timeout.count(), 1, max_timeout_ms);
    in_range<std::int64_t>("heartbeat_interval (ms)", o.heartbeat_interval.count(), 100, max_timeout_ms);
    in_range<std::int64_t>("dead_peer_timeout (ms)", o.dead_peer_timeout.count(), o.heartbeat_interval.count() + 1,
                           max_timeout_ms);
    in_range<std::int64_t>("shutdown_grace (ms)", o.shutdown_grace.count(), 0, max_timeout_ms);
    in_range<std::size_t>("max_requests_per_connection", o.max_requests_per_connection, 1, max_requests_ceiling);
    in_range<std::size_t>("max_request_bytes_per_connection", o.max_request_bytes_per_connection, min_frame_limit,
                          max_request_bytes_ceiling);
}

void check_options(const server_options& o) {
    check_name(o.name, "a server's name", true);
    in_range<unsigned>("acceptors", o.acceptors, 1, max_acceptors);
    check_name(o.jail, "a server's jail", true);
    for (const auto& [client, secret] : o.cookies) {
        check_name(client, "a client name in cookies");
        check_cookie(secret, fmt::format("the cookie of client {}", client));
    }
    for (const auto& [client, module] : o.jails) {
        check_name(client, "a client name in jails");
        check_name(module, fmt::format("the jail of client {}", client));
        // A jail keyed by a name anyone may claim would be escaped by
        // claiming another: it holds only for a name proved with its own cookie.
        if (!o.cookies.count(client))
            fail(fmt::format("client {} has a jail but no cookie of its own (cookies): a per-client jail holds only "
                             "for a client that proves its name",
                             client));
    }
    in_range<std::size_t>("max_connections", o.max_connections, 1, max_connections_ceiling);
    in_range<std::size_t>("max_handshakes", o.max_handshakes, 1, max_connections_ceiling);
}

void check_options(const connect_options& o) {
    check_name(o.name, "a connection's name", true);
    check_name(o.jail, "a connection's jail", true);
    check_name(o.server, "the server's name", true);
    if (o.port == 0) fail("the port to connect to must be 1..65535");
    if (!o.cookie.empty()) check_cookie(o.cookie, "the connection's cookie");
}

}  // namespace rot::detail
