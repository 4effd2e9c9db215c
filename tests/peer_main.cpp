// A rot node in its own process, for the multi-process tests.
//
//   rot_test_peer NAME
//     serves "srv" (math:add) on a free port with the default cookie, prints
//     "port N", then answers one command per line until end of input:
//       call PEER   -> the result of rot:node() on PEER, or "error: ..."
//       connected   -> the connected peers, space separated
//
//   rot_test_peer serve PORT [HEARTBEAT_MS DEAD_MS]
//     serves "srv" on PORT (0: any) with the test cookie: math:add/2, and
//     work:run/2 (sleeps MS, prints "ran SEQ", returns SEQ) for at-most-once
//     checks; prints "port N"; stops at end of input.
//
//   rot_test_peer wait
//     blocks SIGINT and SIGTERM, starts a node, prints "ready", runs
//     node::wait() and prints "wait returned N".
//
//   rot_test_peer flood PORT COUNT MS
//     connects to PORT as "flood" with the test cookie, starts COUNT calls of
//     work:run(SEQ, MS), prints "sent", and waits (to be killed).
#include <rot/async.hpp>
#include <rot/rot.hpp>

#include <csignal>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

namespace {

// tests/support.hpp's test_cookie: these nodes talk to the tests' own.
constexpr const char* test_cookie = "rot test cookie";

int legacy(const std::string& name) {
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

int serve(std::uint16_t port, int heartbeat_ms, int dead_ms) {
    rot::node_options o{.name = "server", .cookie = test_cookie};
    if (heartbeat_ms > 0) {
        o.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
        o.dead_peer_timeout = std::chrono::milliseconds(dead_ms);
    }
    rot::node n(o);
    std::mutex out;
    n.module("math").def("add", [](std::int64_t a, std::int64_t b) { return a + b; });
    n.module("work").def("run", [&](std::int64_t seq, std::int64_t ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        std::lock_guard lock(out);
        std::cout << "ran " << seq << std::endl;
        return seq;
    });
    const auto srv = n.start_server({.name = "srv", .ip = "127.0.0.1", .port = port});
    std::cout << "port " << srv.port << std::endl;
    std::cin.ignore(std::numeric_limits<std::streamsize>::max());
    return 0;
}

int flood(std::uint16_t port, int count, int ms) {
    rot::node n({.name = "flooder", .cookie = test_cookie});
    const auto peer = n.connect("127.0.0.1", {.name = "flood", .port = port}, 1);
    for (int i = 0; i < count; ++i)
        rot::async_call(n, peer, rot::mfa{"work", "run", {i, ms}}, std::chrono::hours(1),
                        [](std::error_code, rot::term) {});
    std::cout << "sent" << std::endl;
    std::cin.ignore(std::numeric_limits<std::streamsize>::max());
    return 0;
}

int wait() {
    // Blocked first: a signal sent after "ready" waits for node::wait().
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    rot::node n({.name = "waiter", .cookie = test_cookie});
    std::cout << "ready" << std::endl;
    const int sig = n.wait();
    std::cout << "wait returned " << sig << std::endl;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "peer";
    if (mode == "serve" && argc >= 3)
        return serve(static_cast<std::uint16_t>(std::stoi(argv[2])), argc >= 5 ? std::stoi(argv[3]) : 0,
                     argc >= 5 ? std::stoi(argv[4]) : 0);
    if (mode == "wait") return wait();
    if (mode == "flood" && argc >= 5)
        return flood(static_cast<std::uint16_t>(std::stoi(argv[2])), std::stoi(argv[3]), std::stoi(argv[4]));
    return legacy(mode);
}
