#include "handler_queue.hpp"

#include <asio/post.hpp>

#include <algorithm>
#include <optional>

#include "connection.hpp"

namespace rot::detail {

void handler_queue::post_runners(std::size_t n) {
    // One runner per request made runnable; a runner that finds nothing to
    // do (its request was dropped, or its connection blocked) just returns.
    for (std::size_t i = 0; i < n; ++i) asio::post(pool_, [this] { run_one(); });
}

void handler_queue::push(const std::shared_ptr<connection>& c, request_job&& job) {
    {
        std::lock_guard lock(mutex_);
        queue_slot& q = c->queue_slot_;
        q.jobs.push(std::move(job));
        ++waiting_;
        if (!q.listed && !q.blocked) {
            ready_.push_back(c);
            q.listed = true;
        }
    }
    post_runners(1);
}

void handler_queue::resume(const std::shared_ptr<connection>& c) {
    std::size_t n = 0;
    {
        std::lock_guard lock(mutex_);
        queue_slot& q = c->queue_slot_;
        if (!q.blocked) return;
        q.blocked = false;
        if (!q.listed && !q.jobs.empty()) {
            ready_.push_back(c);
            q.listed = true;
        }
        n = q.jobs.size();
    }
    post_runners(n);
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

void handler_queue::run_one() {
    std::shared_ptr<connection> conn;
    std::optional<request_job> job;
    {
        std::lock_guard lock(mutex_);
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
            break;
        }
    }
    if (conn) conn->run_job(*job);
}

}  // namespace rot::detail
