#include "transport.hpp"

#include <rot/error.hpp>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <asio/ssl/error.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

namespace rot::detail {

namespace {
// An IPv4 peer of a dual-stack server appears as ::ffff:a.b.c.d: written as
// a.b.c.d, so that both ends of one connection name it alike.
std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
    const auto a = ep.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return fmt::format("{}:{}", asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string(), ep.port());
    return a.is_v6() ? fmt::format("[{}]:{}", a.to_string(), ep.port()) : fmt::format("{}:{}", a.to_string(), ep.port());
}

// OpenSSL's newest error, in words; the queue is cleared so that it does not
// leak into an unrelated report later on this thread.
std::string openssl_error() {
    const unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    if (e == 0) return "unknown OpenSSL error";
    const char* reason = ERR_reason_error_string(e);
    return reason ? reason : fmt::format("OpenSSL error {:#x}", e);
}

bool is_ip_literal(const std::string& host) {
    std::error_code ec;
    (void)asio::ip::make_address(host, ec);
    return !ec;
}
}  // namespace

tls_context make_tls_context(const tls_options& o, bool server) {
    auto ctx = std::make_shared<asio::ssl::context>(server ? asio::ssl::context::tls_server
                                                           : asio::ssl::context::tls_client);
    SSL_CTX* native = ctx->native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
        throw error(errc::invalid_argument, "OpenSSL refuses TLS 1.2 as the oldest version");
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);
    const auto load = [&](const std::string& what, const std::string& path, auto&& f) {
        if (path.empty()) return;
        ERR_clear_error();
        if (f(path.c_str()) != 1)
            throw error(errc::invalid_argument, fmt::format("cannot use {} {}: {}", what, path, openssl_error()));
    };
    if (server && o.certificate.empty())
        throw error(errc::invalid_argument, "a TLS server needs a certificate and its private key (tls.certificate)");
    if (o.certificate.empty() != o.private_key.empty())
        throw error(errc::invalid_argument, "tls.certificate and tls.private_key go together");
    load("the certificate", o.certificate,
         [&](const char* p) { return SSL_CTX_use_certificate_chain_file(native, p); });
    load("the private key", o.private_key,
         [&](const char* p) { return SSL_CTX_use_PrivateKey_file(native, p, SSL_FILETYPE_PEM); });
    if (!o.private_key.empty() && SSL_CTX_check_private_key(native) != 1)
        throw error(errc::invalid_argument, fmt::format("the private key {} does not belong to the certificate {}",
                                                        o.private_key, o.certificate));
    const bool verify = server ? o.require_peer_certificate : o.verify_peer;
    if (server && o.check_node_name && !o.require_peer_certificate)
        throw error(errc::invalid_argument,
                    "tls.check_node_name on a server needs tls.require_peer_certificate (client certificates)");
    if (!server && o.check_node_name && !o.verify_peer)
        throw error(errc::invalid_argument,
                    "tls.check_node_name needs tls.verify_peer: an unverified certificate proves no name");
    if (verify) {
        if (o.ca.empty()) {
            if (SSL_CTX_set_default_verify_paths(native) != 1)
                throw error(errc::invalid_argument, "cannot load the system's CA certificates: " + openssl_error());
        } else {
            load("the CA file", o.ca, [&](const char* p) { return SSL_CTX_load_verify_locations(native, p, nullptr); });
        }
        ctx->set_verify_mode(server ? asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert
                                    : asio::ssl::verify_peer);
    } else {
        ctx->set_verify_mode(asio::ssl::verify_none);
    }
    return ctx;
}

transport::transport(const strand_t& strand) : socket_(strand), dialing_(strand) {}

void close_on_exec(int fd) noexcept {
    if (fd >= 0) (void)::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
}

void transport::adopt(asio::ip::tcp::socket&& tcp) {
    close_on_exec(tcp.native_handle());  // a program this process starts must not hold our connections
    std::error_code ec;
    tcp.set_option(asio::ip::tcp::no_delay(true), ec);
    const auto remote = tcp.remote_endpoint(ec);
    remote_ = ec ? std::string("?") : endpoint_text(remote);
    const auto local = tcp.local_endpoint(ec);
    local_ = ec ? std::string("?") : endpoint_text(local);
    const int family = tcp.local_endpoint(ec).protocol().family();
    fd_ = tcp.release(ec);
    if (ec) {
        fd_ = -1;
        return;
    }
    socket_.assign(asio::generic::stream_protocol(family, IPPROTO_TCP), fd_, ec);
    if (ec) {
        ::close(fd_);
        fd_ = -1;
    }
}

void transport::set_user_timeout(std::chrono::milliseconds timeout) noexcept {
    const auto ms = static_cast<unsigned>(std::min<std::int64_t>(timeout.count(), UINT32_MAX));
    (void)::setsockopt(fd_, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
}

void transport::adopt_pipe(int fd, std::string local, std::string remote) {
    std::error_code ec;
    socket_.assign(asio::generic::stream_protocol(AF_UNIX, 0), fd, ec);
    if (ec) {
        ::close(fd);
        return;
    }
    fd_ = fd;
    local_ = std::move(local);
    remote_ = std::move(remote);
}

void transport::secure(asio::ssl::context& ctx, const std::string& host) {
    tls_ = std::make_unique<asio::ssl::stream<socket_type&>>(socket_, ctx);
    if (host.empty()) return;
    SSL* ssl = tls_->native_handle();
    // The server's certificate must name the host we dialed; OpenSSL checks it
    // as part of the chain, so a mismatch reads "hostname mismatch".
    if (is_ip_literal(host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    } else {
        SSL_set1_host(ssl, host.c_str());
        SSL_set_tlsext_host_name(ssl, host.c_str());
    }
}

int transport::first_byte() const noexcept {
    std::uint8_t b = 0;
    const ssize_t n = ::recv(fd_, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 1 ? b : -1;
}

std::size_t transport::write_now(std::span<const std::uint8_t> bytes) noexcept {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) sent += static_cast<std::size_t>(n);
        else if (n < 0 && errno == EINTR) continue;
        else break;  // EAGAIN, or an error the asynchronous write will report
    }
    return sent;
}

std::size_t transport::write_now(std::span<const ::iovec> pieces) noexcept {
    ::msghdr m{};
    m.msg_iov = const_cast<::iovec*>(pieces.data());
    m.msg_iovlen = pieces.size();
    for (;;) {
        const ssize_t n = ::sendmsg(fd_, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) return static_cast<std::size_t>(n);
        if (n < 0 && errno == EINTR) continue;
        return 0;  // EAGAIN, or an error the asynchronous write will report
    }
}

void transport::refuse_and_close(std::span<const std::uint8_t> bytes) noexcept {
    if (fd_ >= 0) {
        (void)::send(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        ::shutdown(fd_, SHUT_WR);
        std::uint8_t sink[4096];
        for (int i = 0; i < 16 && ::recv(fd_, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
        }
    }
    close();
}

void transport::close() noexcept {
    std::error_code ignored;
    dialing_.close(ignored);
    socket_.shutdown(socket_type::shutdown_both, ignored);
    socket_.close(ignored);
    fd_ = -1;  // its number may be reused from now on
}

std::vector<std::string> transport::peer_certificate_names() const {
    std::vector<std::string> names;
    if (!tls_) return names;
    X509* cert = SSL_get1_peer_certificate(tls_->native_handle());
    if (!cert) return names;
    char cn[256];
    if (const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn); n > 0)
        names.emplace_back(cn, static_cast<std::size_t>(n));
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
        if (g->type != GEN_DNS) continue;
        const ASN1_IA5STRING* s = g->d.dNSName;
        names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<std::size_t>(ASN1_STRING_length(s)));
    }
    GENERAL_NAMES_free(sans);
    X509_free(cert);
    return names;
}

std::string transport::tls_failure(std::error_code ec) const {
    if (tls_) {
        const long verify = SSL_get_verify_result(tls_->native_handle());
        if (verify != X509_V_OK)
            return fmt::format("the certificate of {} is not trusted: {}", remote_,
                               X509_verify_cert_error_string(verify));
    }
    if (ec == asio::ssl::error::stream_truncated || ec == asio::error::eof || ec == asio::error::connection_reset)
        return fmt::format("{} closed the connection during the TLS handshake", remote_);
    std::string reason = ec.message();
    if (ec.category() == asio::error::get_ssl_category()) {
        if (const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) reason = r;
        if (ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_WRONG_VERSION_NUMBER)
            reason += " (the peer does not speak TLS: is its transport tcp?)";
    }
    return fmt::format("TLS handshake with {} failed: {}", remote_, reason);
}

}  // namespace rot::detail
