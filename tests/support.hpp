#pragma once
// Helpers shared by the networking tests.

#include <rot/rot.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <future>
#include <thread>

namespace rot::test {

using namespace std::chrono_literals;

/// Waits for a state the test cannot be told about directly (a peer that the
/// other node removed, say), checking it every millisecond until `limit`.
/// It never orders events: the condition decides, the limit only bounds.
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
        std::this_thread::sleep_for(1ms);  // polling interval, not an ordering
    }
    return true;
}

/// A count summed over a node's connections, however many it has at the
/// moment (one snapshot: a pool may be short of connections, or lose one).
inline std::size_t total(const rot::node& n, std::size_t rot::connection_info::*field) {
    std::size_t sum = 0;
    for (const auto& c : n.connections()) sum += c.*field;
    return sum;
}

/// A gate a handler can wait at until the test opens it (bounded, so a
/// failing test cannot hang the handler pool).
class gate {
public:
    void open() { promise_.set_value(); }
    /// Called by handlers; true if opened in time.
    bool wait(std::chrono::milliseconds limit = 10s) const {
        return future_.wait_for(limit) == std::future_status::ready;
    }

private:
    std::promise<void> promise_;
    std::shared_future<void> future_ = promise_.get_future().share();
};

/// The cookie test nodes share: tests never read or write ~/.rot.cookie.
inline constexpr const char* test_cookie = "rot test cookie";

/// Options for a test node: its own cookie, loopback, short timeouts.
inline node_options test_node(std::string name) {
    node_options o;
    o.name = std::move(name);
    o.cookie = test_cookie;
    o.handler_threads = 4;
    o.connect_timeout = 2s;
    return o;
}

/// A server on 127.0.0.1 with an ephemeral port.
inline server_options test_server(std::string name) {
    server_options o;
    o.name = std::move(name);
    o.ip = "127.0.0.1";
    o.port = 0;
    return o;
}

inline errc code_of(const failure& f) { return static_cast<errc>(f.code.value()); }

/// The message of the invalid_argument error f() throws ("no error" if none).
inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const rot::error& e) {
        CHECK(e.code() == errc::invalid_argument);
        return e.message();
    }
    return "no error";
}

}  // namespace rot::test
