#include "supervisor.hpp"

#include <asio/dispatch.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <cmath>

namespace rot::detail {

namespace {
constexpr auto first_backoff = std::chrono::milliseconds(1000);
constexpr auto max_backoff = std::chrono::milliseconds(120000);
constexpr double backoff_factor = 1.6;
constexpr double jitter_span = 0.2;  // +/- 20 %
}  // namespace

supervisor::supervisor(node_impl& node, connection::dial_plan plan, std::size_t connections)
    : node_(node), strand_(asio::make_strand(node.io)), plan_(std::move(plan)), random_(std::random_device{}()) {
    for (std::size_t i = 0; i < connections; ++i) slots_.push_back(std::make_unique<slot>(strand_));
    name_ = plan_.options.server;
}

std::chrono::milliseconds supervisor::backoff(unsigned attempt, double jitter) {
    const double base = static_cast<double>(first_backoff.count()) * std::pow(backoff_factor, attempt);
    const double capped = std::min(base, static_cast<double>(max_backoff.count()));
    return std::chrono::milliseconds(static_cast<std::int64_t>(capped * (1.0 + jitter)));
}

void supervisor::start(std::function<void(result<std::string>)> first) {
    asio::dispatch(strand_, [self = shared_from_this(), first = std::move(first)]() mutable {
        self->first_ = std::move(first);
        self->first_round_left_ = self->slots_.size();
        for (std::size_t i = 0; i < self->slots_.size(); ++i) self->dial(i);
    });
}

void supervisor::stop() {
    asio::dispatch(strand_, [self = shared_from_this()] {
        self->stopped_ = true;
        for (auto& s : self->slots_) s->timer.cancel();
        if (auto first = std::exchange(self->first_, nullptr))
            first(failure{make_error_code(errc::stopped), "the pool was stopped"});
    });
}

std::string supervisor::name() const {
    std::lock_guard lock(name_mutex_);
    return name_;
}

void supervisor::dial(std::size_t i) {
    if (stopped_ || node_.stopped()) return;
    connection::dial_plan plan = plan_;
    plan.deadline = std::chrono::steady_clock::now() + node_.options.connect_timeout;
    plan.lost = [self = shared_from_this(), i](const failure& why) {
        asio::post(self->strand_, [self, i, why] { self->lost(i, why); });
    };
    auto c = std::make_shared<connection>(node_, asio::make_strand(node_.io), std::move(plan));
    node_.track_dial(c);
    c->dial([self = shared_from_this(), i](result<std::string> r) {
        asio::post(self->strand_, [self, i, r = std::move(r)]() mutable { self->dialed(i, std::move(r)); });
    });
}

void supervisor::dialed(std::size_t i, result<std::string> r) {
    slot& s = *slots_[i];
    if (r) {
        s.up = true;
        s.failures = 0;
        std::lock_guard lock(name_mutex_);
        name_ = *r;
    } else {
        if (!stopped_)
            log(log_level::info, node_.options.name, "{}:{}: {} (dialing again)", plan_.host, plan_.options.port,
                r.error().message);
        retry_later(i);
    }
    if (first_) {
        if (!r && !first_failure_) first_failure_ = r.error();
        const bool round_over = std::exchange(s.first_dial, false) && --first_round_left_ == 0;
        // One connection up makes the pool usable; else the first round's failure.
        if (r) std::exchange(first_, nullptr)(*r);
        else if (round_over) std::exchange(first_, nullptr)(*first_failure_);
    }
}

void supervisor::lost(std::size_t i, const failure& why) {
    slot& s = *slots_[i];
    s.up = false;
    if (stopped_ || node_.stopped()) return;
    log(log_level::info, node_.options.name, "lost a connection to {} ({}): dialing again", name(), why.message);
    retry_later(i);
}

void supervisor::retry_later(std::size_t i) {
    if (stopped_ || node_.stopped()) return;
    slot& s = *slots_[i];
    std::uniform_real_distribution<double> jitter(-jitter_span, jitter_span);
    s.timer.expires_after(backoff(s.failures, jitter(random_)));
    ++s.failures;
    s.timer.async_wait([self = shared_from_this(), i](std::error_code ec) {
        if (!ec) self->dial(i);
    });
}

}  // namespace rot::detail
