// A rot node in its own process, driven over stdin by multiprocess_test:
// prints "port N" once its server listens, then answers one command per line:
//   call PEER     -> the result of rot:node() on PEER, or "error: ..."
//   connected     -> the connected peers, space separated
// and stops cleanly at end of input.
#include <rot/rot.hpp>

#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "peer";
    rot::node n({.name = name});
    n.module("math").def("add", [](std::int64_t a, std::int64_t b) { return a + b; });
    const auto srv = n.start_server({.name = "srv", .ip = "127.0.0.1", .port = 0});
    std::cout << "port " << srv.port << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream words(line);
        std::string command, peer;
        words >> command >> peer;
        if (command == "call") {
            auto r = n.try_call(peer, {"rot", "node", {}}, std::chrono::seconds(5));
            std::cout << (r ? fmt::format("{}", *r) : "error: " + r.error().message) << std::endl;
        } else if (command == "connected") {
            std::cout << fmt::format("{}", fmt::join(n.connected(), " ")) << std::endl;
        } else {
            std::cout << "error: unknown command" << std::endl;
        }
    }
    n.stop();
    return 0;
}
