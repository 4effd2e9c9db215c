// TLS between nodes, with the test PKI scripts/make-test-ca made for this
// run (ROT_TEST_PKI): calls over TLS, mutual TLS, node names checked against
// certificates, and every way a connection can fail to be secured, each
// refused at once with an error that names the cause.

#include <filesystem>

#include "support.hpp"

using namespace rot;
using namespace rot::test;

namespace {

const std::string pki = ROT_TEST_PKI;

std::string file(std::string_view name) { return pki + "/" + std::string(name); }

// Sanitized builds run slower; a refusal must still come long before the handshake deadline.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr auto at_once = 5s;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr auto at_once = 5s;
#else
constexpr auto at_once = 1s;
#endif
#else
constexpr auto at_once = 1s;
#endif

node_options tls_node(std::string name) {
    node_options o = test_node(std::move(name));
    o.connect_timeout = 30s;  // a refusal must come from its cause, not from a deadline
    return o;
}

server_options tls_server(std::string_view cert = "node1") {
    server_options o = test_server("srv");
    o.transport = transport::tls;
    o.tls.certificate = file(std::string(cert) + ".pem");
    o.tls.private_key = file(std::string(cert) + ".key");
    o.tls.ca = file("ca.pem");
    return o;
}

connect_options tls_client(std::uint16_t port, std::string name = "cl") {
    connect_options o;
    o.name = std::move(name);
    o.port = port;
    o.transport = transport::tls;
    o.tls.ca = file("ca.pem");
    return o;
}

struct tls_pair {
    node n1{tls_node("node1")};
    node n2{tls_node("node2")};
    std::uint16_t port = 0;
    explicit tls_pair(server_options srv = tls_server()) {
        n1.module("math").def("add", [](std::int64_t a, std::int64_t b) { return a + b; });
        port = n1.start_server(std::move(srv)).port;
    }
    /// How a connect went, and how long it took.
    struct outcome {
        result<std::string> r;
        std::chrono::steady_clock::duration took;
    };
    outcome attempt(const std::string& host, connect_options o) {
        const auto started = std::chrono::steady_clock::now();
        auto r = n2.try_connect(host, std::move(o), 1);
        return {std::move(r), std::chrono::steady_clock::now() - started};
    }
};

}  // namespace

TEST_CASE("two nodes over TLS: calls both ways, the cookie proved inside TLS") {
    tls_pair t;
    CHECK(t.n1.servers()[0].transport == transport::tls);
    CHECK(t.n2.connect("127.0.0.1", tls_client(t.port), 2) == "srv");
    CHECK(t.n2.call<int>("srv", {"math", "add", {1, 2}}) == 3);
    CHECK(t.n1.call("cl", {"rot", "node", {}}) == term(atom("node2")));
    for (const auto& c : t.n2.connections()) CHECK(c.transport == transport::tls);
    for (const auto& c : t.n1.connections()) CHECK(c.transport == transport::tls);
    // By name too: the certificate names localhost.
    CHECK(t.n2.connect("localhost", tls_client(t.port), 1) == "srv");

    // TLS is no substitute for the cookie.
    node_options o = tls_node("intruder");
    o.cookie = "not the cookie";
    node intruder(o);
    const auto r = intruder.try_connect("127.0.0.1", tls_client(t.port, "intruder"), 1);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::auth_failed);
}

TEST_CASE("plaintext to a TLS port, and TLS to a plaintext port, are refused at once, saying why") {
    tls_pair t;
    const auto plain = t.attempt("127.0.0.1", {.name = "cl", .port = t.port});
    REQUIRE_FALSE(plain.r);
    CHECK(code_of(plain.r.error()) == errc::tls_failed);
    CHECK(plain.r.error().message.find("server srv accepts TLS connections only") != std::string::npos);
    CHECK(plain.took < at_once);

    const auto plain_port = t.n1.start_server({.name = "plain", .ip = "127.0.0.1", .port = 0}).port;
    const auto secure = t.attempt("127.0.0.1", tls_client(plain_port));
    REQUIRE_FALSE(secure.r);
    CHECK(code_of(secure.r.error()) == errc::tls_failed);
    CHECK(secure.r.error().message.find("does not speak TLS") != std::string::npos);
    CHECK(secure.took < at_once);
    CHECK(t.n1.connected().empty());
}

TEST_CASE("a certificate from an unknown CA, an expired one, or one for another host is refused at once") {
    struct bad_certificate {
        std::string cert;
        std::string host;
        std::string cause;
    };
    for (const bad_certificate& b : {bad_certificate{"stranger", "127.0.0.1", "unable to get local issuer certificate"},
                                     bad_certificate{"expired", "127.0.0.1", "certificate has expired"},
                                     bad_certificate{"node1", "127.0.0.2", "IP address mismatch"}}) {
        CAPTURE(b.cert);
        auto srv = tls_server(b.cert);
        srv.ip = "0.0.0.0";  // reachable as 127.0.0.2 too
        tls_pair t(srv);
        const auto a = t.attempt(b.host, tls_client(t.port));
        REQUIRE_FALSE(a.r);
        CHECK(code_of(a.r.error()) == errc::tls_failed);
        CHECK_MESSAGE(a.r.error().message.find(b.cause) != std::string::npos, a.r.error().message);
        CHECK(a.r.error().message.find("not trusted") != std::string::npos);
        CHECK(a.took < at_once);
        CHECK(t.n1.connected().empty());
    }
    // Unless the client chose not to verify.
    tls_pair t(tls_server("stranger"));
    auto blind = tls_client(t.port);
    blind.tls.verify_peer = false;
    CHECK(t.n2.connect("127.0.0.1", blind, 1) == "srv");
}

TEST_CASE("mutual TLS: a client without a certificate the CA signed is refused") {
    auto srv = tls_server();
    srv.tls.require_peer_certificate = true;
    tls_pair t(srv);
    const auto anonymous = t.attempt("127.0.0.1", tls_client(t.port));
    REQUIRE_FALSE(anonymous.r);
    CHECK(code_of(anonymous.r.error()) == errc::tls_failed);
    CHECK_MESSAGE(anonymous.r.error().message.find("certificate required") != std::string::npos,
                  anonymous.r.error().message);
    CHECK(anonymous.took < at_once);

    auto stranger = tls_client(t.port);
    stranger.tls.certificate = file("stranger.pem");
    stranger.tls.private_key = file("stranger.key");
    const auto refused = t.attempt("127.0.0.1", stranger);
    REQUIRE_FALSE(refused.r);
    CHECK(code_of(refused.r.error()) == errc::tls_failed);
    CHECK_MESSAGE(refused.r.error().message.find("unknown ca") != std::string::npos, refused.r.error().message);
    CHECK(refused.took < at_once);

    auto known = tls_client(t.port);
    known.tls.certificate = file("node2.pem");
    known.tls.private_key = file("node2.key");
    CHECK(t.n2.connect("127.0.0.1", known, 1) == "srv");
    CHECK(t.n2.call<int>("srv", {"math", "add", {2, 2}}) == 4);
}

TEST_CASE("check_node_name: a node's name must be its certificate's, on either side") {
    auto srv = tls_server();
    srv.tls.require_peer_certificate = true;
    srv.tls.check_node_name = true;
    tls_pair t(srv);
    auto as = [&](std::string_view cert) {
        auto o = tls_client(t.port);
        o.tls.certificate = file(std::string(cert) + ".pem");
        o.tls.private_key = file(std::string(cert) + ".key");
        o.tls.check_node_name = true;  // and the server's name must be node1's certificate's
        return o;
    };
    CHECK(t.n2.connect("127.0.0.1", as("node2"), 1) == "srv");

    node n3(tls_node("node3"));  // holds node2's certificate, but is not node2
    const auto r = n3.try_connect("127.0.0.1", as("node2"), 1);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::auth_failed);
    CHECK(r.error().message.find("node node3 does not match its certificate") != std::string::npos);

    // The client's check: a server whose node is not named by its certificate.
    node impostor(tls_node("impostor"));
    const auto port = impostor.start_server(tls_server("node1")).port;
    auto o = as("node2");
    o.port = port;
    const auto r2 = t.n2.try_connect("127.0.0.1", o, 1);
    REQUIRE_FALSE(r2);
    CHECK(code_of(r2.error()) == errc::auth_failed);
    CHECK(r2.error().message.find("node impostor does not match its certificate") != std::string::npos);
}

TEST_CASE("TLS files that cannot be used are named when the server starts or the connection is made") {
    node n(tls_node("n"));
    auto srv = tls_server();
    srv.tls.certificate = file("missing.pem");
    try {
        (void)n.start_server(srv);
        FAIL("no error");
    } catch (const rot::error& e) {
        CHECK(e.code() == errc::invalid_argument);
        CHECK(e.message().find("cannot use the certificate " + file("missing.pem")) != std::string::npos);
    }
    srv = tls_server();
    srv.tls.private_key = file("node2.key");
    try {
        (void)n.start_server(srv);
        FAIL("no error");
    } catch (const rot::error& e) {
        CHECK_MESSAGE(e.message().find("cannot use the private key " + file("node2.key") + ": key values mismatch") !=
                          std::string::npos,
                      e.message());
    }
    auto blind = tls_client(1);
    blind.tls.verify_peer = false;
    blind.tls.check_node_name = true;
    const auto unverified = n.try_connect("127.0.0.1", blind, 1);
    REQUIRE_FALSE(unverified);
    CHECK(unverified.error().message.find("check_node_name needs tls.verify_peer") != std::string::npos);
    auto o = tls_client(1);
    o.tls.ca = file("missing-ca.pem");
    const auto r = n.try_connect("127.0.0.1", o, 1);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::invalid_argument);
    CHECK(r.error().message.find("cannot use the CA file") != std::string::npos);
}
