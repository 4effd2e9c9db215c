#pragma once
// The bytes of one connection: plain TCP, TLS over TCP, or an in-memory pipe
// (a socketpair, for tests). One stream socket underneath; TLS, when used,
// wraps it from the first byte. Reads and writes belong to the connection's
// strand, but for write_now(), which a plain socket allows from any thread.

#include <rot/options.hpp>

#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace rot::detail {

using strand_t = asio::strand<asio::io_context::executor_type>;

/// A TLS context made from tls_options, shared by a server's or a pool's connections.
using tls_context = std::shared_ptr<asio::ssl::context>;

/// Marks a descriptor close-on-exec: a program this process starts must not
/// inherit our sockets (a listening one would keep the port).
void close_on_exec(int fd) noexcept;

/// An OpenSSL context for a server (`server`) or for connections. Throws
/// rot::error(invalid_argument) naming the file that cannot be used.
[[nodiscard]] tls_context make_tls_context(const tls_options& options, bool server);

class transport {
public:
    using socket_type = asio::generic::stream_protocol::socket;

    explicit transport(const strand_t& strand);

    /// Takes a connected TCP socket.
    void adopt(asio::ip::tcp::socket&& tcp);
    /// TCP: how long sent data may stay unacknowledged before the kernel
    /// gives up on the connection (TCP_USER_TIMEOUT), matching the heartbeat's
    /// dead-peer timeout, so that a vanished peer also fails our writes.
    void set_user_timeout(std::chrono::milliseconds timeout) noexcept;
    /// Takes one end of a socketpair; `local` and `remote` name the two ends.
    void adopt_pipe(int fd, std::string local, std::string remote);

    /// From now on the bytes are TLS; call before any byte was exchanged.
    /// A client (`host` set) checks the server's certificate names `host` when
    /// the context verifies peers, and sends it as SNI when it is a name.
    void secure(asio::ssl::context& ctx, const std::string& host);
    [[nodiscard]] bool secured() const noexcept { return tls_ != nullptr; }

    template <class Handler>
    void async_tls_handshake(bool server, Handler&& h) {
        tls_->async_handshake(server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
                              std::forward<Handler>(h));
    }
    /// Completes when bytes can be read, without reading them (see first_byte()).
    template <class Handler>
    void async_wait_readable(Handler&& h) {
        socket_.async_wait(socket_type::wait_read, std::forward<Handler>(h));
    }
    template <class Handler>
    void async_read_some(asio::mutable_buffer b, Handler&& h) {
        if (tls_) tls_->async_read_some(b, std::forward<Handler>(h));
        else socket_.async_read_some(b, std::forward<Handler>(h));
    }
    /// Writes all of `buffers` (a const buffer sequence that outlives the write).
    template <class Buffers, class Handler>
    void async_write(const Buffers& buffers, Handler&& h) {
        if (tls_) asio::async_write(*tls_, buffers, std::forward<Handler>(h));
        else asio::async_write(socket_, buffers, std::forward<Handler>(h));
    }

    /// The first byte waiting to be read, left in place; -1 if none (or closed).
    [[nodiscard]] int first_byte() const noexcept;
    /// Plain sockets only, from any thread, never blocking: writes what the
    /// socket takes now and returns how much. The caller keeps this from
    /// racing close() (the connection's write lock).
    [[nodiscard]] std::size_t write_now(std::span<const std::uint8_t> bytes) noexcept;
    /// The same, gathering pieces (one sendmsg).
    [[nodiscard]] std::size_t write_now(std::span<const ::iovec> pieces) noexcept;
    [[nodiscard]] bool writes_from_any_thread() const noexcept { return !tls_ && fd_ >= 0; }
    /// Says a last word in plaintext before any handshake (a refuse), best
    /// effort, and closes: what the peer sent is drained first, so that the
    /// close does not reset the connection under the word.
    void refuse_and_close(std::span<const std::uint8_t> bytes) noexcept;

    void close() noexcept;

    [[nodiscard]] rot::transport kind() const noexcept { return tls_ ? rot::transport::tls : rot::transport::tcp; }
    [[nodiscard]] const std::string& remote_address() const noexcept { return remote_; }
    [[nodiscard]] const std::string& local_address() const noexcept { return local_; }
    /// TLS: the peer certificate's common name and DNS names (empty without one).
    [[nodiscard]] std::vector<std::string> peer_certificate_names() const;
    /// Why a TLS handshake failed, in words: OpenSSL's reason, the
    /// certificate check that failed, and a guess at the cause.
    [[nodiscard]] std::string tls_failure(std::error_code ec) const;

    /// The TCP socket a dialer connects before adopt().
    asio::ip::tcp::socket& dialing_socket() noexcept { return dialing_; }

private:
    socket_type socket_;
    asio::ip::tcp::socket dialing_;
    std::unique_ptr<asio::ssl::stream<socket_type&>> tls_;
    int fd_ = -1;
    std::string remote_;
    std::string local_;
};

}  // namespace rot::detail
