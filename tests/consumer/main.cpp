// Built against the installed rot package; exits 0 when a call round-trips.
#include <rot/rot.hpp>

int main() {
    rot::node n({.name = "consumer"});
    n.module("m").def("twice", [](std::int64_t x) { return 2 * x; });
    const auto srv = n.start_server({.name = "srv", .ip = "127.0.0.1", .port = 0});
    n.connect("127.0.0.1", {.name = "self", .port = srv.port}, 1);
    return n.call<std::int64_t>("srv", {"m", "twice", {21}}) == 42 ? 0 : 1;
}
