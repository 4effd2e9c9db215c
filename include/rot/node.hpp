#pragma once
// rot::node: one process's presence in a rot network. It owns its I/O and
// handler threads, its function registry, its servers and its peers.

#include <rot/error.hpp>
#include <rot/options.hpp>
#include <rot/registry.hpp>
#include <rot/term.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rot {

/// What a call asks for: {Module, Function, Args}, or {Function, Args} where
/// the remote side applies a jail (module left empty).
struct mfa {
    std::string module;
    std::string function;
    std::vector<term> args;

    mfa(std::string m, std::string f, std::vector<term> a)
        : module(std::move(m)), function(std::move(f)), args(std::move(a)) {}
    mfa(std::string f, std::vector<term> a) : function(std::move(f)), args(std::move(a)) {}

    /// From the term {M, F, Args} or {F, Args} (atoms, a list); throws errc::badarg.
    [[nodiscard]] static mfa from_term(const term& t);
};

namespace detail {
class node_impl;
/// A type-erased completion of an asynchronous call (see rot/async.hpp). On
/// failure `value` is a string holding the message.
struct completion {
    virtual ~completion() = default;
    virtual void complete(std::error_code ec, term value) = 0;
};
}  // namespace detail

/// A node. All member functions are thread-safe. Destroying it stops it.
class node {
public:
    explicit node(node_options options = {});
    ~node();
    node(const node&) = delete;
    node& operator=(const node&) = delete;

    [[nodiscard]] const std::string& name() const noexcept;
    [[nodiscard]] const node_options& options() const noexcept;

    /// The module `name` of this node's registry, to export functions in.
    [[nodiscard]] module_builder module(std::string_view name);

    /// The modules this node exports, sorted (the built-in `rot` among them).
    [[nodiscard]] std::vector<std::string> modules() const;

    /// Starts a server and returns what it bound (port 0 picks a free port).
    /// Throws rot::error: already_exists (name taken), bind_failed (port in use...), invalid_argument.
    server_info start_server(server_options options = {});
    /// Closes the server and every connection it accepted. False if there is no such server.
    bool stop_server(std::string_view name);

    /// Dials `connections` TCP connections to host:port, runs the handshake and
    /// returns the remote server's name, which the pool is then known by.
    /// Throws rot::error (connect_failed, version_mismatch, name_conflict, timeout...).
    std::string connect(std::string_view host, connect_options options = {},
                        std::size_t connections = 4);
    [[nodiscard]] result<std::string> try_connect(std::string_view host,
                                                  connect_options options = {},
                                                  std::size_t connections = 4);

    /// Names of every connected peer, sorted.
    [[nodiscard]] std::vector<std::string> connected() const;
    /// How many connections this node has to `peer` (0 when none).
    [[nodiscard]] std::size_t connected(std::string_view peer) const;
    [[nodiscard]] std::vector<connection_info> connections() const;
    [[nodiscard]] std::vector<server_info> servers() const;
    /// Says goodbye to `peer` and closes its connections; its calls in flight
    /// fail at once with errc::disconnected. False if not connected.
    bool disconnect(std::string_view peer);

    /// Calls peer and waits for the reply. Throws rot::error. A call to this
    /// node's own name, when no peer goes by it, runs here on the handler
    /// pool (as Erlang's rpc:call(node(), ...)); so do casts. Not from the
    /// node's own I/O threads (inline handlers, async completions): that is
    /// errc::invalid_argument at once, as waiting there would never end.
    term call(std::string_view peer, const mfa& request, std::chrono::milliseconds timeout);
    term call(std::string_view peer, const mfa& request);
    /// Calls and converts the reply: node.call<std::int64_t>("srv", {"math", "add", {1, 2}}).
    template <class T>
    T call(std::string_view peer, const mfa& request, std::chrono::milliseconds timeout) {
        return call(peer, request, timeout).as<T>();
    }
    template <class T>
    T call(std::string_view peer, const mfa& request) {
        return call(peer, request).as<T>();
    }
    /// As call(), but returns the failure instead of throwing.
    [[nodiscard]] result<term> try_call(std::string_view peer, const mfa& request,
                                        std::chrono::milliseconds timeout) noexcept;
    [[nodiscard]] result<term> try_call(std::string_view peer, const mfa& request) noexcept;

    /// Calls every peer at once and waits for all (each within `timeout`):
    /// one result per peer, in the order given. Not from the node's I/O threads.
    [[nodiscard]] std::vector<result<term>> multicall(const std::vector<std::string>& peers, const mfa& request,
                                                      std::chrono::milliseconds timeout);
    [[nodiscard]] std::vector<result<term>> multicall(const std::vector<std::string>& peers, const mfa& request);

    /// Queues a request with no reply. Throws rot::error(errc::not_connected).
    void cast(std::string_view peer, const mfa& request);
    [[nodiscard]] result<void> try_cast(std::string_view peer, const mfa& request) noexcept;

    /// Loads a plugin module (rot/plugin.hpp) and returns the modules it
    /// defined. A relative path not in the working directory is looked for in
    /// $ROT_MODULE_PATH (colon-separated), beside the program and in its
    /// ../lib/rot. A missing file, a missing entry point or a module name
    /// that is taken is a failure, and nothing is registered.
    [[nodiscard]] result<std::vector<std::string>> load_module(const std::filesystem::path& path);

    /// Calls f (on an I/O thread; keep it short) when the last connection to a
    /// peer closes, with the reason. Replaces any earlier callback.
    void on_peer_down(std::function<void(const std::string& peer, const failure& reason)> f);
    /// Calls f (on an I/O thread; keep it short) when a peer's first
    /// connection is up (again). Replaces any earlier callback.
    void on_peer_up(std::function<void(const std::string& peer)> f);

    /// Stops accepting, tells peers goodbye, fails calls in flight
    /// (errc::stopped), drops requests not yet started, and waits up to
    /// node_options::shutdown_grace for handlers already running. Idempotent.
    /// From the node's own threads (a handler) it does not wait. The threads
    /// are joined by the destructor; async calls after stop() fail with stopped.
    void stop();

    /// Runs until the node is stopped (stop() from any thread, a handler's
    /// included) or SIGINT/SIGTERM comes, which stops it; a second signal
    /// meanwhile ends the process at once (exit 128 + signal). The calling
    /// thread takes the signals even if they are blocked. Returns the signal, or 0.
    int wait();

    /// Starts an asynchronous call; rot/async.hpp wraps this for completion tokens.
    void async_call_erased(std::string_view peer, const mfa& request,
                           std::chrono::milliseconds timeout,
                           std::unique_ptr<detail::completion> done);

    detail::node_impl& impl() noexcept { return *impl_; }

private:
    std::unique_ptr<detail::node_impl> impl_;
};

}  // namespace rot
