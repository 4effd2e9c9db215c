// Built against the installed rot package with -Wall -Wextra -Werror; exits
// 0 when calls round-trip the ways the README shows.
#include <rot/async.hpp>
#include <rot/rot.hpp>

#include <asio/use_future.hpp>

#include <cstdio>

int main() {
    // Designated initializers name some options and leave the rest to their defaults.
    rot::node n({.name = "consumer", .cookie = "consumer cookie"});
    n.module("m").def("twice", [](std::int64_t x) { return 2 * x; });
    const auto srv = n.start_server({.name = "srv", .ip = "127.0.0.1", .port = 0});
    n.connect("127.0.0.1", {.name = "self", .port = srv.port}, 1);
    if (n.call<std::int64_t>("srv", {"m", "twice", {21}}) != 42) return 1;
    // A failure's message survives asio::use_future, once.
    auto f = rot::async_call(n, "srv", {"m", "nope", {}}, std::chrono::seconds(5), asio::use_future);
    try {
        (void)f.get();
        return 1;
    } catch (const rot::error& e) {
        if (std::string(e.what()) != "undefined function m:nope/0") {
            std::fprintf(stderr, "what(): %s\n", e.what());
            return 1;
        }
    }
    const auto all = n.multicall({"srv", "self"}, {"rot", "node", {}});
    return all.size() == 2 && all[0] && all[1] ? 0 : 1;
}
