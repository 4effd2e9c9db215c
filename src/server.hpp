#pragma once
// A named server: an acceptor keeping `acceptors` accepts outstanding, the
// connections it accepted (closed with it), and what those connections need
// from it: the cookies and jails of its clients, its TLS context, its limits.

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include "node_impl.hpp"
#include "transport.hpp"

namespace rot::detail {

class connection;

class server : public std::enable_shared_from_this<server> {
public:
    /// Takes checked options (check_options); makes the TLS context, which
    /// throws invalid_argument for a certificate or key it cannot use.
    server(node_impl& node, server_options options);

    /// Binds and listens; throws rot::error(connect_failed) when it cannot.
    void start();
    void stop();

    [[nodiscard]] const std::string& name() const noexcept { return options_.name; }
    [[nodiscard]] const server_options& options() const noexcept { return options_; }
    /// The secret a client of this name must prove: its own cookie, else the node's.
    [[nodiscard]] std::string cookie_for(std::string_view client) const;
    /// The jail of an authenticated client.
    [[nodiscard]] std::string jail_for(std::string_view client) const;
    [[nodiscard]] const tls_context& tls() const noexcept { return tls_; }
    [[nodiscard]] bool stopped() const noexcept;
    [[nodiscard]] server_info info() const;
    /// A connection accepted here finished its handshake (or closed before).
    void handshake_ended() noexcept;
    void forget(const connection* c);
    /// Logs why a peer was refused: at most one line a second, counting the rest.
    void log_refusal(std::string_view why);
    /// Takes one end of a socketpair as if accepted (tests; node_impl::connect_pipe).
    void accept_pipe(int fd, std::string local, std::string remote);
    /// Accepts outstanding now (tests: every acceptor resumes after EMFILE).
    [[nodiscard]] std::size_t accepts_outstanding() const noexcept { return accepting_.load(); }

private:
    void accept_one();
    void accepted(asio::ip::tcp::socket socket);
    /// A new connection, unless a limit refuses it (then: why).
    [[nodiscard]] std::shared_ptr<connection> admit(const strand_t& strand, std::string& why);
    /// A failed accept (out of descriptors, say) is retried a little later
    /// rather than spun on; every failed one is, not just the last.
    void retry_later();

    node_impl& node_;
    const server_options options_;
    tls_context tls_;
    asio::strand<asio::io_context::executor_type> strand_;
    asio::ip::tcp::acceptor acceptor_;
    asio::steady_timer retry_timer_;
    std::uint16_t port_ = 0;
    std::atomic<std::size_t> accepting_{0};
    std::size_t to_retry_ = 0;   ///< strand only
    bool retry_armed_ = false;   ///< strand only

    mutable std::mutex mutex_;
    std::map<const connection*, std::shared_ptr<connection>> connections_;
    std::size_t handshakes_ = 0;
    bool stopped_ = false;

    std::mutex refusals_mutex_;
    std::chrono::steady_clock::time_point last_refusal_log_{};
    std::size_t refusals_unlogged_ = 0;
};

}  // namespace rot::detail
