#include "handler_queue.hpp"

#include <asio/post.hpp>

#include <algorithm>
#include <optional>

#include "connection.hpp"

namespace rot::detail {

void handler_queue::post_runners(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) asio::post(pool_, [this] { run(); });
}

std::size_t handler_queue::runners_wanted_locked(std::size_t n) {
    const std::size_t more = std::min(n, threads_ - std::min(threads_, runners_));
    runners_ += more;
    return more;
}

void handler_queue::push(const std::shared_ptr<connection>& c, std::vector<request_job>& jobs) {
    if (jobs.empty()) return;
    std::size_t post = 0;
    {
        std::lock_guard lock(mutex_);
        queue_slot& q = c->queue_slot_;
        for (auto& job : jobs) q.jobs.push(std::move(job));
        waiting_ += jobs.size();
        if (!q.listed && !q.blocked) {
            ready_.push_back(c);
            q.listed = true;
        }
        // A runner at work takes these in its turn: no wake-up for them.
        // Otherwise one is woken; it wakes another if work is left when it
        // starts a request (the backlog outlasting one thread).
        if (!q.blocked) post = runners_wanted_locked(1);
    }
    jobs.clear();
    post_runners(post);
}

void handler_queue::resume(const std::shared_ptr<connection>& c) {
    std::size_t post = 0;
    {
        std::lock_guard lock(mutex_);
        queue_slot& q = c->queue_slot_;
        if (!q.blocked) return;
        q.blocked = false;
        if (!q.listed && !q.jobs.empty()) {
            ready_.push_back(c);
            q.listed = true;
        }
        post = runners_wanted_locked(q.jobs.size());
    }
    post_runners(post);
}

std::vector<request_job> handler_queue::drop(connection& c) {
    std::vector<std::shared_ptr<connection>> unlisted;  // released after the lock
    std::lock_guard lock(mutex_);
    queue_slot& q = c.queue_slot_;
    std::vector<request_job> out = q.jobs.take_all();
    waiting_ -= out.size();
    if (q.listed) {
        const auto it = std::find_if(ready_.begin(), ready_.end(), [&](const auto& r) { return r.get() == &c; });
        if (it != ready_.end()) {
            unlisted.push_back(std::move(*it));
            ready_.erase(it);
        }
        q.listed = false;
    }
    return out;
}

std::size_t handler_queue::waiting() const {
    std::lock_guard lock(mutex_);
    return waiting_;
}

void handler_queue::take_locked(std::shared_ptr<connection>& conn, std::optional<request_job>& job) {
    while (!ready_.empty()) {
        std::shared_ptr<connection> c = std::move(ready_.front());
        ready_.pop_front();
        queue_slot& q = c->queue_slot_;
        q.listed = false;
        if (q.jobs.empty()) continue;
        // A reply counts against the write limit: while the peer leaves
        // more than that unread, its requests wait (not its handlers' threads).
        if (c->over_write_limit() && !c->closing()) {
            q.blocked = true;
            continue;
        }
        job.emplace(q.jobs.pop());
        --waiting_;
        if (!q.jobs.empty()) {
            ready_.push_back(c);  // to the back: the others come first
            q.listed = true;
        }
        conn = std::move(c);
        return;
    }
}

void handler_queue::run() {
    for (;;) {
        std::shared_ptr<connection> conn;
        std::optional<request_job> job;
        std::size_t helpers = 0;
        {
            std::lock_guard lock(mutex_);
            take_locked(conn, job);
            if (!job) {
                // Decided under the lock: a push after this posts a runner.
                --runners_;
                return;
            }
            if (!ready_.empty()) helpers = runners_wanted_locked(1);
        }
        post_runners(helpers);
        conn->run_job(*job);
    }
}

}  // namespace rot::detail
