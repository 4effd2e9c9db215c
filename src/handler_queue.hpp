#pragma once
// The handler pool's queue. Requests wait per connection, and the pool takes
// them round-robin across connections: one peer's backlog cannot hold the
// pool while another's request waits behind it. A connection whose peer does
// not read its replies is passed over until it does (its replies count against
// its write limit); a connection that closes takes its waiting requests with
// it, so they never run.

#include <asio/thread_pool.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "registry.hpp"

namespace rot::detail {

class connection;

/// A request on its way to a handler, with its own copy of the arguments.
struct request_job {
    std::uint64_t id = 0;  ///< 0 for a cast
    function_ptr fn;
    std::string module;
    std::string function;
    binary args;
};

class handler_queue {
public:
    /// `pool` runs the requests; it may be constructed after this queue.
    explicit handler_queue(asio::thread_pool& pool) : pool_(pool) {}

    /// Queues a request of `c` (any thread).
    void push(const std::shared_ptr<connection>& c, request_job job);
    /// `c` may run requests again (its write queue drained).
    void resume(const std::shared_ptr<connection>& c);
    /// `c` closed: its waiting requests, taken out, for it to account for.
    [[nodiscard]] std::vector<request_job> drop(const connection& c);
    /// Requests waiting, over all connections (introspection).
    [[nodiscard]] std::size_t waiting() const;

private:
    struct entry {
        std::shared_ptr<connection> conn;
        std::deque<request_job> jobs;
        bool listed = false;   ///< in ready_
        bool blocked = false;  ///< over its write limit: waits for resume()
    };
    /// Runs the next request in round-robin order, if there is one.
    void run_one();
    void post_runners(std::size_t n);

    asio::thread_pool& pool_;
    mutable std::mutex mutex_;
    std::unordered_map<const connection*, entry> entries_;
    std::deque<const connection*> ready_;
    std::size_t waiting_ = 0;
};

}  // namespace rot::detail
