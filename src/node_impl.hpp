#pragma once
// What a rot::node is made of. Data flows: node -> peer (pool) -> connection
// -> frame -> transport, and back through the registry to a handler.

#include <rot/node.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth.hpp"
#include "handler_queue.hpp"
#include "log.hpp"
#include "peers.hpp"
#include "registry.hpp"
#include "transport.hpp"

namespace rot::detail {

class connection;
class server;
class supervisor;

class node_impl {
    // First, so that they outlive every member holding connections: a
    // connection's destructor reports to them (and a connection still in its
    // handshake forgets its nonce), even when the io_context destroys it.
    std::mutex live_mutex_;
    std::condition_variable live_cv_;
    std::size_t live_ = 0;
    std::atomic<std::size_t> handlers_running_{0};  ///< pool handlers running (live_cv_ tells stop())
    struct nonce_use {
        std::string local;
        std::string remote;
    };
    mutable std::mutex nonces_mutex_;
    std::map<nonce, nonce_use> nonces_;

public:
    /// Checks the options and finds the cookie (auth.hpp resolve_cookie);
    /// throws invalid_argument.
    explicit node_impl(node_options options);
    ~node_impl();

    const node_options options;   ///< with the cookie resolved
    const std::uint64_t incarnation;  ///< this run of the node: later runs have larger numbers
    const std::chrono::steady_clock::time_point started;

    asio::io_context io;
    handler_queue jobs;  ///< before the pool: its runners use it until the pool is joined
    asio::thread_pool handlers;
    registry functions;
    peer_table peers;

    [[nodiscard]] bool stopped() const noexcept { return stopped_.load(std::memory_order_acquire); }
    /// A call to our own name that no peer has: it runs here.
    [[nodiscard]] bool is_self(std::string_view peer) const;
    /// Runs request on the handler pool; `done` completes with its result,
    /// its failure, or timeout (on an I/O thread or the pool's).
    void call_local(const mfa& request, std::chrono::milliseconds timeout, std::unique_ptr<completion> done);
    /// Blocks until stop() has begun.
    void wait_stopped();
    /// Wakes wait_stopped() (a signal came).
    void wake_waiters();

    /// Adds an authenticated connection to its name's pool, closing what a
    /// newer run of the peer replaces; the failure is the refusal (name_conflict, stopped).
    [[nodiscard]] result<void> attach(const std::shared_ptr<connection>& c, const std::string& name, const route& r);
    void detach(const connection& c, const failure& reason);

    // Nonces this node sent in handshakes still running, with the addresses
    // of their connection. A nonce of ours coming back from a peer is a
    // reflection, unless it arrives over the other end of that very
    // connection (a node connected to itself).
    void own_nonce(const nonce& n, const std::string& local, const std::string& remote);
    void forget_nonce(const nonce& n);
    [[nodiscard]] bool reflected(const nonce& theirs, const std::string& local, const std::string& remote) const;

    // Servers.
    [[nodiscard]] server_info start_server(server_options o);
    bool stop_server(std::string_view name);
    [[nodiscard]] std::vector<server_info> servers() const;
    [[nodiscard]] std::shared_ptr<server> find_server(std::string_view name) const;

    [[nodiscard]] result<std::vector<std::string>> load_module(const std::filesystem::path& path);

    /// Called (on an I/O thread) when a peer's last connection closes.
    void on_peer_down(std::function<void(const std::string&, const failure&)> f);
    /// Called (on an I/O thread) when a name gets its first connection.
    void on_peer_up(std::function<void(const std::string&)> f);
    void peer_up(const std::string& name);

    [[nodiscard]] result<std::string> connect(std::string_view host, connect_options o, std::size_t n);
    /// Registers a connection still dialing, for stop() to close.
    void track_dial(const std::shared_ptr<connection>& c);
    /// Connects this node to `server` of `acceptor` over an in-memory pipe
    /// (a socketpair): the handshake and everything after run as over TCP.
    [[nodiscard]] result<std::string> connect_pipe(node_impl& acceptor, std::string_view server, connect_options o);

    /// Live connection objects (open or closing), for stop() to wait on.
    void connection_opened() noexcept;
    void connection_finished() noexcept;
    /// Handlers running on the pool, for stop() to give them their grace period.
    void handler_started() noexcept;
    void handler_finished() noexcept;
    [[nodiscard]] std::size_t handlers_running() const noexcept { return handlers_running_.load(); }

    /// Says goodbye to `peer` (and stops supervising it); false if not connected.
    bool disconnect(std::string_view peer, const std::string& why);

    /// Closes servers, connections and dials (requests not started are
    /// dropped, calls in flight fail), then, unless called from the node's own
    /// threads, waits up to shutdown_grace for running handlers. Idempotent.
    void stop();
    /// stop(), then the threads are joined (the destructor).
    void join();
    /// True on one of the node's I/O or handler threads.
    [[nodiscard]] bool on_own_thread();

private:
    /// Calls the on_peer_down callback.
    void peer_down(const std::string& name, const failure& reason);
    /// Fills in a connect's defaults and checks it.
    [[nodiscard]] result<connect_options> connect_defaults(connect_options o) const;
    /// Waits for the dials of a pool (closed by stop() meanwhile); the first failure is the pool's.
    [[nodiscard]] result<std::string> await_pool(const std::vector<std::shared_ptr<connection>>& conns,
                                                 std::vector<std::future<result<std::string>>>& outcomes,
                                                 std::chrono::steady_clock::time_point deadline,
                                                 std::string_view where);

    std::atomic<bool> stopped_{false};
    std::mutex stop_wait_mutex_;
    std::condition_variable stop_wait_cv_;
    bool woken_ = false;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::vector<std::thread> io_threads_;

    mutable std::mutex servers_mutex_;
    std::map<std::string, std::shared_ptr<server>, std::less<>> servers_;

    std::mutex peer_down_mutex_;  ///< the two callbacks
    std::function<void(const std::string&, const failure&)> peer_down_;
    std::function<void(const std::string&)> peer_up_;

    // Connections still dialing (in no peer table and no server): stop()
    // closes them too, so that a connect in progress ends at once.
    std::mutex dials_mutex_;
    std::vector<std::weak_ptr<connection>> dials_;

    // Supervised pools, until disconnect() or stop().
    std::mutex supervisors_mutex_;
    std::vector<std::shared_ptr<supervisor>> supervisors_;
    /// A supervised connect: the pool is kept whatever the first round gives.
    [[nodiscard]] result<std::string> connect_supervised(std::string host, connect_options o, tls_context tls,
                                                         std::size_t n, const std::string& where);

    std::once_flag stop_once_;
};

/// The built-in module every node exports; its functions run on the I/O thread.
inline constexpr std::string_view builtin_module = "rot";

/// Registers the built-in `rot` module.
void register_builtins(node_impl& n);

/// Checks options as every entry point takes them; throws invalid_argument.
void check_options(const node_options& o);
void check_options(const server_options& o);
void check_options(const connect_options& o);

}  // namespace rot::detail
