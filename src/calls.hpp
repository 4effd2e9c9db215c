#pragma once
// The calling half of a connection: the calls it waits on and their
// deadlines. Thread-safe; the connection sends the requests and feeds it the
// replies, and its timer asks which deadlines have passed.

#include <rot/error.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "pending.hpp"

namespace rot::detail {

/// now + timeout, or the end of time for a timeout too long to add.
[[nodiscard]] inline std::chrono::steady_clock::time_point deadline_after(std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    const auto now = clock::now();
    return timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(clock::time_point::max() - now)
               ? clock::time_point::max()
               : now + timeout;
}

class outgoing_calls {
public:
    using clock = std::chrono::steady_clock;

    /// From now on calls are taken (the handshake is done).
    void open() {
        std::lock_guard lock(mutex_);
        open_ = !closed_;
    }

    /// Registers call `id`, which is then ours to complete. A failure (the
    /// connection is not open, or closing) leaves `done` with the caller.
    /// On success, true when the deadline timer must be moved earlier.
    [[nodiscard]] result<bool> add(std::uint64_t id, completion_ref& done,
                                   std::optional<std::chrono::milliseconds> timeout) {
        std::lock_guard lock(mutex_);
        if (!open_)
            return closed_ ? reason_ : failure{make_error_code(errc::not_connected), "connection is not open"};
        pending_call p{std::move(done)};
        bool earlier = false;
        if (timeout) {
            p.timeout = *timeout;
            p.deadline = deadline_after(*timeout);
            // Calls with equal timeouts end in the order they start, so the
            // timer rarely needs moving.
            if (p.deadline < next_deadline_) {
                next_deadline_ = p.deadline;
                earlier = true;
            }
        }
        pending_.insert(id, std::move(p));
        return earlier;
    }

    /// The call `id`, taken out; nullopt if it is not waiting (timed out, cancelled, never sent).
    [[nodiscard]] std::optional<pending_call> take(std::uint64_t id) {
        std::lock_guard lock(mutex_);
        return pending_.take(id);
    }

    /// Takes out the calls whose deadline passed.
    [[nodiscard]] std::vector<pending_call> expire() {
        std::vector<pending_call> out;
        std::lock_guard lock(mutex_);
        const auto now = clock::now();
        auto next = clock::time_point::max();
        pending_.remove_if_not(
            [&](const pending_call& c) {
                if (c.deadline <= now) return false;
                next = std::min(next, c.deadline);
                return true;
            },
            [&](std::uint64_t, pending_call&& c) { out.push_back(std::move(c)); });
        next_deadline_ = next;
        return out;
    }

    [[nodiscard]] clock::time_point next_deadline() const {
        std::lock_guard lock(mutex_);
        return next_deadline_;
    }

    /// Stops taking calls, for `reason`, and hands back those still waiting,
    /// with their ids; nullopt if it was closed already.
    [[nodiscard]] std::optional<std::vector<std::pair<std::uint64_t, pending_call>>> close(failure reason) {
        std::vector<std::pair<std::uint64_t, pending_call>> out;
        std::lock_guard lock(mutex_);
        if (closed_) return std::nullopt;
        closed_ = true;
        closing_.store(true, std::memory_order_release);
        open_ = false;
        reason_ = std::move(reason);
        pending_.remove_if_not([](const pending_call&) { return false; },
                               [&](std::uint64_t id, pending_call&& c) { out.emplace_back(id, std::move(c)); });
        return out;
    }

    /// True once close() ran; readable without the lock.
    [[nodiscard]] bool closing() const noexcept { return closing_.load(std::memory_order_acquire); }
    [[nodiscard]] bool is_open() const {
        std::lock_guard lock(mutex_);
        return open_;
    }
    /// Why the connection closed (valid once closing()).
    [[nodiscard]] failure reason() const {
        std::lock_guard lock(mutex_);
        return reason_;
    }
    [[nodiscard]] std::size_t size() const {
        std::lock_guard lock(mutex_);
        return pending_.size();
    }

private:
    mutable std::mutex mutex_;
    pending_table pending_;
    clock::time_point next_deadline_ = clock::time_point::max();
    bool open_ = false;
    bool closed_ = false;
    std::atomic<bool> closing_{false};
    failure reason_;
};

}  // namespace rot::detail
