// The seed scenario with node1 in a separate process.

#include <rot/rot.hpp>

#include <csignal>

#include "child_process.hpp"
#include "support.hpp"

using namespace rot;
using namespace rot::test;
using rot::tools::child_process;

TEST_CASE("two nodes in two processes call each other both ways") {
    child_process node1({ROT_TEST_PEER, "node1"});
    const auto ready = node1.read_line();
    REQUIRE(ready);
    REQUIRE(ready->rfind("port ", 0) == 0);
    const auto port = static_cast<std::uint16_t>(std::stoi(ready->substr(5)));

    // Neither node is given a cookie: both find the same ~/.rot.cookie (the
    // tests' own home), the first to look creating it.
    node_options o = test_node("node2");
    o.cookie.clear();
    node node2(o);
    CHECK(node2.connect("localhost", {.name = "cl", .port = port}) == "srv");
    CHECK(node2.connected() == std::vector<std::string>{"srv"});
    CHECK(node2.call("srv", {"rot", "node", {}}) == term(atom("node1")));
    CHECK(node2.call<int>("srv", {"math", "add", {40, 2}}) == 42);

    node1.write("connected\n");
    CHECK(node1.read_line() == "cl");
    node1.write("call cl\n");
    CHECK(node1.read_line() == "node2");

    // node1 stops at end of input; node2 sees the goodbye.
    node1.close_stdin();
    REQUIRE(node1.wait_exit(10s));
    CHECK(node1.exit_code() == 0);
    CHECK(eventually([&] { return node2.connected().empty(); }));
    const auto r = node2.try_call("srv", {"rot", "node", {}}, 1s);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::not_connected);
}

TEST_CASE("node::wait() returns the signal that stopped the node") {
    for (const int sig : {SIGTERM, SIGINT}) {
        child_process waiter({ROT_TEST_PEER, "wait"});
        REQUIRE(waiter.read_line() == "ready");
        waiter.signal(sig);
        CHECK(waiter.read_line() == fmt::format("wait returned {}", sig));
        REQUIRE(waiter.wait_exit(10s));
        CHECK(waiter.exit_code() == 0);
    }
}
