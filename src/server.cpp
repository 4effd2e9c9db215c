#include "server.hpp"

#include <asio/dispatch.hpp>
#include <asio/post.hpp>

#include <future>

#include "connection.hpp"

namespace rot::detail {

namespace {
// How long a failed accept waits before it is tried again.
constexpr auto accept_retry_delay = std::chrono::milliseconds(100);
}  // namespace

server::server(node_impl& node, server_options options)
    : node_(node),
      options_(std::move(options)),
      tls_(options_.transport == rot::transport::tls ? make_tls_context(options_.tls, true) : nullptr),
      strand_(asio::make_strand(node.io)),
      acceptor_(strand_),
      retry_timer_(strand_) {}

void server::start() {
    std::error_code ec;
    const auto address = asio::ip::make_address(options_.ip, ec);
    if (ec) throw error(errc::invalid_argument, fmt::format("bad ip address \"{}\": {}", options_.ip, ec.message()));
    const asio::ip::tcp::endpoint ep(address, options_.port);
    const auto fail = [&](std::string_view step) {
        throw error(errc::bind_failed, fmt::format("server {} cannot {} {}:{}: {}", options_.name, step,
                                                      options_.ip, options_.port, ec.message()));
    };
    acceptor_.open(ep.protocol(), ec);
    if (ec) fail("open");
    close_on_exec(acceptor_.native_handle());
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    acceptor_.bind(ep, ec);
    if (ec) fail("bind");
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) fail("listen on");
    port_ = acceptor_.local_endpoint(ec).port();
    asio::dispatch(strand_, [self = shared_from_this()] {
        for (unsigned i = 0; i < self->options_.acceptors; ++i) self->accept_one();
    });
}

void server::accept_one() {
    accepting_.fetch_add(1);
    acceptor_.async_accept(asio::make_strand(node_.io), [self = shared_from_this()](std::error_code ec,
                                                                                    asio::ip::tcp::socket socket) {
        self->accepting_.fetch_sub(1);
        if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (ec) {
            log(log_level::warning, self->node_.options.name, "server {}: accept failed: {}", self->options_.name,
                ec.message());
            return self->retry_later();
        }
        self->accepted(std::move(socket));
        self->accept_one();
    });
}

void server::retry_later() {
    ++to_retry_;
    if (retry_armed_) return;
    retry_armed_ = true;
    retry_timer_.expires_after(accept_retry_delay);
    retry_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        self->retry_armed_ = false;
        const std::size_t n = std::exchange(self->to_retry_, 0);
        if (ec || !self->acceptor_.is_open()) return;
        for (std::size_t i = 0; i < n; ++i) self->accept_one();
    });
}

std::shared_ptr<connection> server::admit(const strand_t& strand, std::string& why) {
    std::lock_guard lock(mutex_);
    if (stopped_) {
        why = fmt::format("server {} is stopping", options_.name);
        return nullptr;
    }
    if (connections_.size() >= options_.max_connections) {
        why = fmt::format("server {} has {} connections (max_connections)", options_.name, connections_.size());
        return nullptr;
    }
    if (handshakes_ >= options_.max_handshakes) {
        why = fmt::format("server {} has {} connections in their handshake (max_handshakes)", options_.name,
                          handshakes_);
        return nullptr;
    }
    auto conn = std::make_shared<connection>(node_, strand, shared_from_this());
    connections_.emplace(conn.get(), conn);
    ++handshakes_;
    return conn;
}

void server::accepted(asio::ip::tcp::socket socket) {
    std::string why;
    if (auto conn = admit(*socket.get_executor().target<strand_t>(), why)) return conn->accept(std::move(socket));
    // Refused at once: in words where the connection is plaintext (a TLS
    // client would not understand them), and without reading anything.
    std::error_code ignored;
    const auto peer = socket.remote_endpoint(ignored);
    log_refusal(fmt::format("refusing a connection from {}:{}: {}", peer.address().to_string(), peer.port(), why));
    transport t(*socket.get_executor().target<strand_t>());
    t.adopt(std::move(socket));
    if (tls_) t.close();
    else t.refuse_and_close(encode_refuse(errc::overloaded, why));
}

void server::accept_pipe(int fd, std::string local, std::string remote) {
    std::string why;
    auto conn = admit(asio::make_strand(node_.io), why);
    if (!conn) {
        ::close(fd);
        return;
    }
    conn->start_pipe(fd, std::move(local), std::move(remote));
}

void server::stop() {
    std::map<const connection*, std::shared_ptr<connection>> open;
    {
        std::lock_guard lock(mutex_);
        if (stopped_) return;
        stopped_ = true;
        open.swap(connections_);
    }
    // The port is free when stop() returns (but on the node's own threads,
    // which must not wait on its strand).
    auto closed = std::make_shared<std::promise<void>>();
    asio::dispatch(strand_, [self = shared_from_this(), closed] {
        std::error_code ignored;
        self->acceptor_.close(ignored);
        self->retry_timer_.cancel();
        closed->set_value();
    });
    if (!node_.on_own_thread()) closed->get_future().wait();
    for (auto& [p, c] : open) c->close(errc::stopped, fmt::format("server {} stopped", options_.name), true);
}

std::string server::cookie_for(std::string_view client) const {
    const auto it = options_.cookies.find(client);
    return it != options_.cookies.end() ? it->second : node_.options.cookie;
}

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
    i.transport = options_.transport;
    std::lock_guard lock(mutex_);
    i.connections = connections_.size();
    i.handshakes = handshakes_;
    return i;
}

void server::handshake_ended() noexcept {
    std::lock_guard lock(mutex_);
    --handshakes_;
}

void server::forget(const connection* c) {
    std::shared_ptr<connection> last;  // dropped after the lock: its destructor reports to us
    std::lock_guard lock(mutex_);
    if (const auto it = connections_.find(c); it != connections_.end()) {
        last = std::move(it->second);
        connections_.erase(it);
    }
}

void server::log_refusal(std::string_view why) {
    const auto now = std::chrono::steady_clock::now();
    std::size_t unlogged = 0;
    {
        std::lock_guard lock(refusals_mutex_);
        if (last_refusal_log_ != std::chrono::steady_clock::time_point{} &&
            now - last_refusal_log_ < std::chrono::seconds(1)) {
            ++refusals_unlogged_;
            return;
        }
        last_refusal_log_ = now;
        unlogged = std::exchange(refusals_unlogged_, 0);
    }
    log(log_level::warning, node_.options.name, "server {}: {}{}", options_.name, why,
        unlogged ? fmt::format(" (and {} more refusals since the last report)", unlogged) : std::string());
}

}  // namespace rot::detail
