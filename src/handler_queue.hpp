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
#include <optional>
#include <span>
#include <string>
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
    std::shared_ptr<const void> buffer;   ///< holds args: the read buffer the request arrived in
    std::span<const std::uint8_t> args;  ///< the encoded argument list, in place
};

/// A FIFO of requests that keeps its storage: a connection's queue fills
/// and empties all the time, and should not allocate each time.
class request_fifo {
public:
    [[nodiscard]] bool empty() const noexcept { return head_ == items_.size(); }
    [[nodiscard]] std::size_t size() const noexcept { return items_.size() - head_; }
    void push(request_job&& job) { items_.push_back(std::move(job)); }
    request_job pop() {
        request_job job = std::move(items_[head_++]);
        if (head_ == items_.size()) {
            items_.clear();
            head_ = 0;
        } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
            items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
        return job;
    }
    std::vector<request_job> take_all() {
        std::vector<request_job> out(std::make_move_iterator(items_.begin() + static_cast<std::ptrdiff_t>(head_)),
                                     std::make_move_iterator(items_.end()));
        items_.clear();
        head_ = 0;
        return out;
    }

private:
    std::vector<request_job> items_;
    std::size_t head_ = 0;
};

/// A connection's place in the queue: kept in the connection, touched only
/// under the queue's lock.
struct queue_slot {
    request_fifo jobs;
    bool listed = false;   ///< in the ready list
    bool blocked = false;  ///< over its write limit: waits for resume()
};

class handler_queue {
public:
    /// `pool` runs the requests with `threads` threads; it may be constructed
    /// after this queue.
    handler_queue(asio::thread_pool& pool, std::size_t threads) : pool_(pool), threads_(threads) {}

    /// Queues requests of `c` (a read batch's: one lock, one wake-up per free
    /// thread) and empties `jobs`, keeping its storage.
    void push(const std::shared_ptr<connection>& c, std::vector<request_job>& jobs);
    /// `c` may run requests again (its write queue drained).
    void resume(const std::shared_ptr<connection>& c);
    /// `c` closed: its waiting requests, taken out, for it to account for.
    [[nodiscard]] std::vector<request_job> drop(connection& c);
    /// Requests waiting, over all connections (introspection).
    [[nodiscard]] std::size_t waiting() const;

private:
    /// A pool thread's loop: runs requests in round-robin order until none
    /// is runnable. A runner stays while there is work, so a burst of
    /// requests costs one wake-up per thread, not one per request.
    void run();
    /// The next runnable request and its connection, under the lock (no job: none).
    void take_locked(std::shared_ptr<connection>& conn, std::optional<request_job>& job);
    /// Posts runners for up to `n` more requests, as threads are free (under the lock).
    [[nodiscard]] std::size_t runners_wanted_locked(std::size_t n);
    void post_runners(std::size_t n);

    asio::thread_pool& pool_;
    const std::size_t threads_;
    mutable std::mutex mutex_;
    std::deque<std::shared_ptr<connection>> ready_;  ///< connections with requests to run, in turn
    std::size_t waiting_ = 0;
    std::size_t runners_ = 0;  ///< posted or running
};

}  // namespace rot::detail
