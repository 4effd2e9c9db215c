#pragma once
// The Erlang-style API: free functions acting on a process-wide default node.
// rot::start() names it; otherwise the first use starts one called nonode@nohost.

#include <rot/node.hpp>

namespace rot {

/// The library's version ("0.1.0") and the newest wire protocol it speaks.
[[nodiscard]] std::string_view version() noexcept;
[[nodiscard]] int protocol_version() noexcept;

/// Sets the process-wide log level: "debug", "info", "warning" (the default,
/// or ROT_LOG), "error" or "none". Logs go to stderr. Throws invalid_argument.
void set_log_level(std::string_view level);

/// Starts the default node with these options. Throws already_exists if it runs.
node& start(node_options options = {});
/// Stops the default node (a later call starts a new one).
void stop();
/// The default node, started on first use.
[[nodiscard]] node& default_node();

inline module_builder module(std::string_view name) { return default_node().module(name); }
inline server_info start_server(server_options o = {}) { return default_node().start_server(std::move(o)); }
inline bool stop_server(std::string_view name) { return default_node().stop_server(name); }
inline std::string connect(std::string_view host, connect_options o = {}, std::size_t n = 4) {
    return default_node().connect(host, std::move(o), n);
}
[[nodiscard]] inline std::vector<std::string> connected() { return default_node().connected(); }
[[nodiscard]] inline std::size_t connected(std::string_view peer) { return default_node().connected(peer); }
[[nodiscard]] inline std::vector<connection_info> connections() { return default_node().connections(); }
[[nodiscard]] inline std::vector<server_info> servers() { return default_node().servers(); }
inline bool disconnect(std::string_view peer) { return default_node().disconnect(peer); }

inline term call(std::string_view peer, const mfa& r, std::chrono::milliseconds timeout) {
    return default_node().call(peer, r, timeout);
}
inline term call(std::string_view peer, const mfa& r) { return default_node().call(peer, r); }
template <class T>
T call(std::string_view peer, const mfa& r, std::chrono::milliseconds timeout) {
    return default_node().call<T>(peer, r, timeout);
}
template <class T>
T call(std::string_view peer, const mfa& r) {
    return default_node().call<T>(peer, r);
}
[[nodiscard]] inline result<term> try_call(std::string_view peer, const mfa& r,
                                           std::chrono::milliseconds timeout) {
    return default_node().try_call(peer, r, timeout);
}
[[nodiscard]] inline result<term> try_call(std::string_view peer, const mfa& r) {
    return default_node().try_call(peer, r);
}
[[nodiscard]] inline std::vector<result<term>> multicall(const std::vector<std::string>& peers, const mfa& r,
                                                         std::chrono::milliseconds timeout) {
    return default_node().multicall(peers, r, timeout);
}
[[nodiscard]] inline std::vector<result<term>> multicall(const std::vector<std::string>& peers, const mfa& r) {
    return default_node().multicall(peers, r);
}
inline void cast(std::string_view peer, const mfa& r) { default_node().cast(peer, r); }
[[nodiscard]] inline result<void> try_cast(std::string_view peer, const mfa& r) {
    return default_node().try_cast(peer, r);
}
/// Runs the default node until it is stopped or SIGINT/SIGTERM (node::wait()).
inline int wait() { return default_node().wait(); }

}  // namespace rot
