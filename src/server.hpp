#pragma once
// A named server: an acceptor keeping `acceptors` accepts outstanding, and
// the connections it accepted (closed with it).

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <memory>
#include <mutex>
#include <map>

#include "node_impl.hpp"

namespace rot::detail {

class connection;

class server : public std::enable_shared_from_this<server> {
public:
    server(node_impl& node, server_options options);

    /// Binds and listens; throws rot::error(connect_failed) when it cannot.
    void start();
    void stop();

    [[nodiscard]] const std::string& name() const noexcept { return options_.name; }
    [[nodiscard]] std::string jail_for(std::string_view client) const;
    [[nodiscard]] bool inline_handlers() const noexcept;
    [[nodiscard]] bool stopped() const noexcept;
    [[nodiscard]] server_info info() const;
    void forget(const connection* c);

private:
    void accept_one();

    node_impl& node_;
    const server_options options_;
    asio::strand<asio::io_context::executor_type> strand_;
    asio::ip::tcp::acceptor acceptor_;
    asio::steady_timer retry_timer_;
    std::uint16_t port_ = 0;

    mutable std::mutex mutex_;
    std::map<const connection*, std::shared_ptr<connection>> connections_;
    bool stopped_ = false;
};

}  // namespace rot::detail
