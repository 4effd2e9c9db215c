#include "handler_queue.hpp"

#include <asio/post.hpp>

#include <algorithm>

#include "connection.hpp"

namespace rot::detail {

void handler_queue::post_runners(std::size_t n) {
    // One runner per request made runnable; a runner that finds nothing to
    // do (its request was dropped, or its connection blocked) just returns.
    for (std::size_t i = 0; i < n; ++i) asio::post(pool_, [this] { run_one(); });
}

void handler_queue::push(const std::shared_ptr<connection>& c, request_job job) {
    {
        std::lock_guard lock(mutex_);
        entry& e = entries_[c.get()];
        if (!e.conn) e.conn = c;
        e.jobs.push_back(std::move(job));
        ++waiting_;
        if (!e.listed && !e.blocked) {
            ready_.push_back(c.get());
            e.listed = true;
        }
    }
    post_runners(1);
}

void handler_queue::resume(const std::shared_ptr<connection>& c) {
    std::size_t n = 0;
    {
        std::lock_guard lock(mutex_);
        const auto it = entries_.find(c.get());
        if (it == entries_.end() || !it->second.blocked) return;
        it->second.blocked = false;
        if (!it->second.listed) {
            ready_.push_back(c.get());
            it->second.listed = true;
        }
        n = it->second.jobs.size();
    }
    post_runners(n);
}

std::vector<request_job> handler_queue::drop(const connection& c) {
    std::vector<request_job> out;
    std::shared_ptr<connection> last;  // released after the lock
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(&c);
    if (it == entries_.end()) return out;
    out.assign(std::make_move_iterator(it->second.jobs.begin()), std::make_move_iterator(it->second.jobs.end()));
    waiting_ -= out.size();
    last = std::move(it->second.conn);
    entries_.erase(it);
    std::erase(ready_, &c);
    return out;
}

std::size_t handler_queue::waiting() const {
    std::lock_guard lock(mutex_);
    return waiting_;
}

void handler_queue::run_one() {
    std::shared_ptr<connection> conn;
    request_job job;
    {
        std::lock_guard lock(mutex_);
        while (!ready_.empty() && !conn) {
            const connection* key = ready_.front();
            ready_.pop_front();
            const auto it = entries_.find(key);
            if (it == entries_.end()) continue;
            entry& e = it->second;
            e.listed = false;
            // A reply counts against the write limit: while the peer leaves
            // more than that unread, its requests wait (not its handlers' threads).
            if (e.conn->over_write_limit() && !e.conn->closing()) {
                e.blocked = true;
                continue;
            }
            job = std::move(e.jobs.front());
            e.jobs.pop_front();
            --waiting_;
            conn = e.conn;
            if (!e.jobs.empty()) {
                ready_.push_back(key);  // to the back: the others come first
                e.listed = true;
            } else {
                entries_.erase(it);
            }
        }
    }
    if (conn) conn->run_job(job);
}

}  // namespace rot::detail
