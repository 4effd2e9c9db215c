#include "server.hpp"

#include <asio/dispatch.hpp>
#include <asio/post.hpp>

#include "connection.hpp"

namespace rot::detail {

server::server(node_impl& node, server_options options)
    : node_(node),
      options_(std::move(options)),
      strand_(asio::make_strand(node.io)),
      acceptor_(strand_),
      retry_timer_(strand_) {}

void server::start() {
    std::error_code ec;
    const auto address = asio::ip::make_address(options_.ip, ec);
    if (ec) throw error(errc::invalid_argument, fmt::format("bad ip address \"{}\": {}", options_.ip, ec.message()));
    const asio::ip::tcp::endpoint ep(address, options_.port);
    const auto fail = [&](std::string_view step) {
        throw error(errc::connect_failed, fmt::format("server {} cannot {} {}:{}: {}", options_.name, step,
                                                      options_.ip, options_.port, ec.message()));
    };
    acceptor_.open(ep.protocol(), ec);
    if (ec) fail("open");
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    acceptor_.bind(ep, ec);
    if (ec) fail("bind");
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) fail("listen on");
    port_ = acceptor_.local_endpoint(ec).port();
    asio::dispatch(strand_, [self = shared_from_this()] {
        for (unsigned i = 0; i < std::max(1u, self->options_.acceptors); ++i) self->accept_one();
    });
}

void server::accept_one() {
    auto conn_strand = asio::make_strand(node_.io);
    acceptor_.async_accept(conn_strand, [self = shared_from_this()](std::error_code ec,
                                                                    asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (ec) {
            // Out of descriptors and the like: wait a little rather than spin.
            log(log_level::warning, self->node_.options.name, "server {}: accept failed: {}",
                self->options_.name, ec.message());
            self->retry_timer_.expires_after(std::chrono::milliseconds(100));
            self->retry_timer_.async_wait([self](std::error_code ec) {
                if (!ec && self->acceptor_.is_open()) self->accept_one();
            });
            return;
        }
        auto conn = std::make_shared<connection>(self->node_, std::move(socket), self);
        {
            std::lock_guard lock(self->mutex_);
            if (self->stopped_) return;
            self->connections_.emplace(conn.get(), conn);
        }
        conn->accept();
        self->accept_one();
    });
}

void server::stop() {
    std::map<const connection*, std::shared_ptr<connection>> open;
    {
        std::lock_guard lock(mutex_);
        if (stopped_) return;
        stopped_ = true;
        open.swap(connections_);
    }
    asio::dispatch(strand_, [self = shared_from_this()] {
        std::error_code ignored;
        self->acceptor_.close(ignored);
        self->retry_timer_.cancel();
    });
    for (auto& [p, c] : open)
        c->close(errc::stopped, fmt::format("server {} stopped", options_.name), true);
}

bool server::inline_handlers() const noexcept { return options_.inline_handlers; }

std::string server::jail_for(std::string_view client) const {
    const auto it = options_.jails.find(client);
    return it != options_.jails.end() ? it->second : options_.jail;
}

bool server::stopped() const noexcept {
    std::lock_guard lock(mutex_);
    return stopped_;
}

server_info server::info() const {
    server_info i;
    i.name = options_.name;
    i.ip = options_.ip;
    i.port = port_;
    i.acceptors = options_.acceptors;
    i.jail = options_.jail;
    i.jails = options_.jails;
    i.inline_handlers = options_.inline_handlers;
    std::lock_guard lock(mutex_);
    i.connections = connections_.size();
    return i;
}

void server::forget(const connection* c) {
    std::lock_guard lock(mutex_);
    connections_.erase(c);
}

}  // namespace rot::detail
