// Two nodes in one process: node1 serves a module, node2 connects and calls.
#include <rot/rot.hpp>

int main() {
    rot::node node1({.name = "node1"});
    node1.module("math")
        .def("add", [](std::int64_t a, std::int64_t b) { return a + b; })
        .def("greet", [](const std::string& who) { return "hello, " + who; });
    const auto srv = node1.start_server({.name = "srv", .ip = "127.0.0.1", .port = 0});

    rot::node node2({.name = "node2"});
    const std::string peer = node2.connect("127.0.0.1", {.name = "cl", .port = srv.port});

    fmt::print("math:add(1, 2) = {}\n", node2.call<std::int64_t>(peer, {"math", "add", {1, 2}}));
    fmt::print("math:greet(\"rot\") = {}\n", node2.call(peer, {"math", "greet", {"rot"}}));
    // Connections are symmetric: node1 calls node2 back by the name it dialed with.
    fmt::print("node1 sees {}, which is {}\n", node1.connected()[0], node1.call("cl", {"rot", "node", {}}));
    try {
        node2.call(peer, {"math", "add", {1}});
    } catch (const rot::error& e) {
        fmt::print("math:add(1) fails: {}\n", e.message());
    }
}
