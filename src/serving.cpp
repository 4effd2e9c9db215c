// The serving half of a connection: requests arriving from the peer are
// resolved (the jail applied first, in one place), run inline or on the
// handler pool, and answered; and the back-pressure that keeps one peer from
// taking more than its share: requests running, their argument bytes, and
// the replies it leaves unread.

#include <asio/post.hpp>

#include "connection.hpp"
#include "server.hpp"

namespace rot::detail {

void connection::on_request(std::span<const std::uint8_t> payload) {
    const request_view r = decode_request(payload);
    auto target = resolve(r);
    if (current_log_level() <= log_level::debug)
        log(log_level::debug, node_.options.name, "{} #{} from {}: {}:{}/{}{}", r.id ? "call" : "cast", r.id,
            peer_name(), r.module, r.function, r.arity, target ? "" : " (" + target.error().message + ")");
    if (!target) {
        if (r.id) send_error(r.id, to_errc(target.code()), target.error().message);
        else log(log_level::info, node_.options.name, "cast dropped: {}", target.error().message);
        return;
    }
    running_requests_.fetch_add(1, std::memory_order_relaxed);
    // The built-in module answers at once, even when the pool is saturated
    // (rot:ping is how a peer checks on us): its functions are short and
    // never block. So do a server's inline handlers.
    if ((server_ && server_->options().inline_handlers) || target->module == builtin_module) {
        // Runs now, while the arguments are still in the read buffer. Its
        // reply is queued at once, so the write limit (checked before each
        // frame of the batch) holds for inline handlers as it stands.
        run_request(r.id, target->fn, target->module, r.function, r.args, rchunk_, false);
        request_finished(0);
        return;
    }
    running_bytes_.fetch_add(r.args.size(), std::memory_order_relaxed);
    // Handed to the pool with the rest of the read batch (flush_batch()).
    // The arguments stay where they arrived: the job shares the read buffer.
    rchunk_lent_ = true;
    batch_jobs_.push_back(
        {r.id, std::move(target->fn), std::string(target->module), std::string(r.function), rchunk_, r.args});
}

void connection::hand_over_batch() {
    if (batch_jobs_.empty()) return;
    if (closing()) {
        // Closed meanwhile: they never run.
        for (const auto& job : batch_jobs_) request_finished(job.args.size());
        batch_jobs_.clear();
        return;
    }
    node_.jobs.push(shared_from_this(), batch_jobs_);
}

void connection::run_job(request_job& job) {
    if (!closing()) {
        node_.handler_started();
        run_request(job.id, job.fn, job.module, job.function, job.args, job.buffer, true);
        node_.handler_finished();
    }
    request_finished(job.args.size());
}

result<registry::target> connection::resolve(const request_view& r) {
    const std::string_view module = jail_.empty() ? r.module : std::string_view(jail_);
    for (const auto& c : resolved_)
        if (c.fn && c.arity == r.arity && c.function == r.function && c.module == module)
            return registry::target{c.fn, c.module};
    auto t = node_.functions.resolve(jail_, r.module, r.function, r.arity);
    if (t) {
        resolved& c = resolved_[resolved_next_++ % resolved_.size()];
        c = {std::string(t->module), std::string(r.function), r.arity, t->fn};
        t->module = c.module;  // the registry's view may not outlive its lock
    }
    return t;
}

void connection::run_request(std::uint64_t id, const function_ptr& fn, std::string_view module,
                             std::string_view function, std::span<const std::uint8_t> args,
                             const std::shared_ptr<const void>& buffer, bool on_pool) {
    result<term> out = [&]() -> result<term> {
        term::list_type values;
        try {
            // Inline (on the strand), a binary lent from the read buffer marks it lent.
            term list = decode_term(args, buffer, on_pool ? nullptr : &rchunk_lent_);
            values = std::move(list.as_list());
        } catch (const rot::error& e) {
            return failure{make_error_code(errc::protocol_error), "malformed arguments: " + e.message()};
        }
        return registry::invoke(*fn, values, module, function);
    }();
    if (id) {
        if (!out) {
            send_error(id, to_errc(out.code()), out.error().message);
        } else {
            try {
                // Others of this connection's requests still to run on the
                // pool: their replies will follow, and one write by the I/O
                // thread takes them all. The last one writes from here.
                const bool more_coming = on_pool && running_requests_.load(std::memory_order_relaxed) > 1;
                send_with([&](out_queue& q) { append_reply(q.bytes, id, *out, peer_.max_frame, gather(q)); },
                          more_coming);
            } catch (const rot::error& e) {
                send_error(id, to_errc(e.code()),
                           fmt::format("the reply of {}:{} cannot be sent: {}", module, function, e.message()));
            } catch (const std::exception& e) {
                send_error(id, errc::exception, e.what());
            }
        }
    } else if (!out) {
        log(log_level::info, node_.options.name, "cast failed: {}", out.error().message);
    }
}

void connection::request_finished(std::size_t arg_bytes) {
    const std::size_t bytes_before = running_bytes_.fetch_sub(arg_bytes, std::memory_order_relaxed);
    const std::size_t before = running_requests_.fetch_sub(1, std::memory_order_relaxed);
    // Reading may have stopped at either limit: let the strand look again.
    if (before >= node_.options.max_requests_per_connection ||
        (arg_bytes > 0 && bytes_before >= node_.options.max_request_bytes_per_connection))
        asio::post(strand_, [self = shared_from_this()] { self->resume_reading(); });
}

bool connection::reading_allowed() const noexcept {
    return running_requests_.load(std::memory_order_relaxed) < node_.options.max_requests_per_connection &&
           running_bytes_.load(std::memory_order_relaxed) < node_.options.max_request_bytes_per_connection &&
           !over_write_limit();
}

void connection::queue_drained() {
    resume_reading();
    node_.jobs.resume(shared_from_this());
}

void connection::resume_reading() {
    if (!read_paused_ || !reading_allowed()) return;
    read_paused_ = false;
    // The pause was ours: the silence clock starts again.
    last_read_ = std::chrono::steady_clock::now();
    process_buffer();
    read_more();
}

void connection::send_error(std::uint64_t id, errc code, std::string message) {
    send_with([&](out_queue& q) { append_error(q.bytes, id, code, message); });
}

}  // namespace rot::detail
