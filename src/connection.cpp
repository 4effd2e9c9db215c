#include "connection.hpp"

#include <asio/connect.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sys/socket.h>

#include "server.hpp"

namespace rot::detail {

namespace {
constexpr std::size_t initial_read_buffer = 16 * 1024;
constexpr std::size_t min_read_space = 4 * 1024;
// Buffers grown past this by a big frame are given back once empty; below it
// they are kept, so a stream of 64 KiB frames does not reallocate per frame.
constexpr std::size_t keep_buffer_bytes = 1u << 20;
// How long a closing connection may take to flush its goodbye.
constexpr auto flush_limit = std::chrono::seconds(1);

std::string endpoint_text(const asio::ip::tcp::socket& s) {
    std::error_code ec;
    const auto ep = s.remote_endpoint(ec);
    return ec ? std::string("?") : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

errc to_errc(std::error_code ec) {
    return ec.category() == rot::category() ? static_cast<errc>(ec.value()) : errc::protocol_error;
}
}  // namespace

connection::connection(node_impl& node, strand_t strand)
    : node_(node),
      strand_(std::move(strand)),
      socket_(strand_),
      timer_(strand_),
      state_(state::dialing),
      deadline_timer_(strand_) {
    node_.connection_opened();
}

connection::connection(node_impl& node, asio::ip::tcp::socket socket, std::shared_ptr<server> srv)
    : node_(node),
      strand_(*socket.get_executor().target<strand_t>()),
      socket_(std::move(socket)),
      timer_(strand_),
      server_(std::move(srv)),
      state_(state::handshake),
      deadline_timer_(strand_) {
    node_.connection_opened();
}

connection::~connection() { node_.connection_finished(); }

std::size_t connection::frame_limit() const noexcept {
    return state_ == state::open ? node_.options.max_frame_bytes : handshake_max_frame;
}

// --- Handshake -------------------------------------------------------------

void connection::dial(asio::ip::tcp::resolver::results_type endpoints, std::string name,
                      std::string jail, std::chrono::steady_clock::time_point deadline, dial_done done) {
    hello h;
    h.max_frame = static_cast<std::uint32_t>(node_.options.max_frame_bytes);
    h.incarnation = node_.incarnation;
    h.node = node_.options.name;
    h.name = std::move(name);
    asio::dispatch(strand_, [self = shared_from_this(), endpoints = std::move(endpoints),
                             frame = encode_hello(h), jail = std::move(jail), deadline,
                             done = std::move(done)]() mutable {
        self->dial_done_ = std::move(done);
        if (self->state_ != state::dialing) {
            // Closed before the dial began (the node is stopping).
            failure reason;
            {
                std::lock_guard lock(self->pending_mutex_);
                reason = self->close_reason_;
            }
            return self->finish_dial(std::move(reason));
        }
        self->jail_ = std::move(jail);
        self->timer_.expires_at(deadline);
        self->timer_.async_wait([self](std::error_code ec) {
            if (!ec && (self->state_ == state::dialing || self->state_ == state::handshake))
                self->close(errc::timeout, "timed out connecting and saying hello", false);
        });
        asio::async_connect(self->socket_, endpoints,
                            [self, frame = std::move(frame)](std::error_code ec,
                                                                  const asio::ip::tcp::endpoint& ep) mutable {
                                if (self->state_ != state::dialing) return;
                                if (ec) {
                                    self->close(errc::connect_failed,
                                                fmt::format("cannot connect: {}", ec.message()), false);
                                    return;
                                }
                                self->socket_.set_option(asio::ip::tcp::no_delay(true), ec);
                                {
                                    std::lock_guard lock(self->write_mutex_);
                                    self->fd_ = self->socket_.native_handle();
                                }
                                self->remote_address_ =
                                    fmt::format("{}:{}", ep.address().to_string(), ep.port());
                                self->state_ = state::handshake;
                                self->send(std::move(frame));
                                self->start_reading();
                            });
    });
}

void connection::accept() {
    asio::dispatch(strand_, [self = shared_from_this()] {
        std::error_code ec;
        self->socket_.set_option(asio::ip::tcp::no_delay(true), ec);
        {
            std::lock_guard lock(self->write_mutex_);
            self->fd_ = self->socket_.native_handle();
        }
        self->remote_address_ = endpoint_text(self->socket_);
        self->timer_.expires_after(self->node_.options.connect_timeout);
        self->timer_.async_wait([self](std::error_code ec) {
            if (!ec && self->state_ == state::handshake)
                self->close(errc::timeout, "no hello before the handshake deadline", false);
        });
        self->start_reading();
    });
}

void connection::on_hello(std::span<const std::uint8_t> payload) {
    const hello h = decode_hello(payload);
    const auto refuse = [&](errc code, std::string message) {
        log(log_level::warning, node_.options.name, "refusing connection from {} ({}): {}",
            remote_address_, h.node, message);
        send(encode_refuse(code, message));
        close(code, std::move(message), false);
    };
    const std::uint16_t version = std::min(h.max_version, max_protocol_version);
    if (version < std::max(h.min_version, min_protocol_version))
        return refuse(errc::version_mismatch,
                      fmt::format("no protocol version in common: client speaks {}..{}, server speaks {}..{}",
                                  h.min_version, h.max_version, min_protocol_version, max_protocol_version));
    if (h.name.empty()) return refuse(errc::invalid_argument, "empty connection name");
    if (server_->stopped()) return refuse(errc::stopped, "server is stopping");

    peer_name_ = h.name;
    peer_node_ = h.node;
    peer_max_frame_ = std::clamp<std::size_t>(h.max_frame, handshake_max_frame, max_frame_ceiling);
    jail_ = server_->jail_for(h.name);
    state_ = state::open;
    if (auto r = node_.attach(shared_from_this(), h.name, h.node, h.incarnation); !r) {
        state_ = state::handshake;
        return refuse(static_cast<errc>(r.code().value()), r.error().message);
    }
    attached_.store(true, std::memory_order_release);
    welcome w;
    w.version = version;
    w.max_frame = static_cast<std::uint32_t>(node_.options.max_frame_bytes);
    w.incarnation = node_.incarnation;
    w.node = node_.options.name;
    w.name = server_->name();
    send(encode_welcome(w));
    established();
}

void connection::on_welcome(std::span<const std::uint8_t> payload) {
    const welcome w = decode_welcome(payload);
    if (w.name.empty()) throw error(errc::protocol_error, "welcome with an empty server name");
    if (w.version < min_protocol_version || w.version > max_protocol_version) {
        close(errc::version_mismatch,
              fmt::format("server chose protocol version {}, this node speaks {}..{}", w.version,
                          min_protocol_version, max_protocol_version),
              false);
        return;
    }
    peer_name_ = w.name;
    peer_node_ = w.node;
    peer_max_frame_ = std::clamp<std::size_t>(w.max_frame, handshake_max_frame, max_frame_ceiling);
    state_ = state::open;
    if (auto r = node_.attach(shared_from_this(), w.name, w.node, w.incarnation); !r) {
        {
            std::lock_guard lock(pending_mutex_);
            accepting_calls_ = true;  // lets close() say goodbye: the server thinks we are open
        }
        close(static_cast<errc>(r.code().value()), r.error().message, true);
        return;
    }
    attached_.store(true, std::memory_order_release);
    established();
    finish_dial(w.name);
}

void connection::established() {
    timer_.cancel();
    std::lock_guard lock(pending_mutex_);
    accepting_calls_ = !closing_;
}

void connection::finish_dial(result<std::string> r) {
    if (auto done = std::exchange(dial_done_, nullptr)) done(std::move(r));
}

// --- Reading ---------------------------------------------------------------

void connection::start_reading() {
    rbuf_.resize(initial_read_buffer);
    read_more();
}

void connection::read_more() {
    if (reading_ || read_paused_ || state_ == state::closing || state_ == state::closed) return;
    // Room for the rest of a partly received frame (its length is already
    // checked against the limit), or at least min_read_space.
    std::size_t want = rend_ - rbegin_ + min_read_space;
    if (rend_ - rbegin_ >= frame_header_bytes) {
        const auto* h = rbuf_.data() + rbegin_;
        const std::size_t len = (std::size_t{h[0]} << 24) | (std::size_t{h[1]} << 16) |
                                (std::size_t{h[2]} << 8) | std::size_t{h[3]};
        want = std::max(want, frame_header_bytes + len);
    }
    if (rbuf_.size() - rbegin_ < want || rbuf_.size() - rend_ < min_read_space) {
        if (rbegin_ > 0) {
            std::memmove(rbuf_.data(), rbuf_.data() + rbegin_, rend_ - rbegin_);
            rend_ -= rbegin_;
            rbegin_ = 0;
        }
        if (rbuf_.size() < want) rbuf_.resize(std::max(want, std::min(2 * rbuf_.size(), want + (1 << 20))));
    }
    reading_ = true;
    socket_.async_read_some(asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_),
                            [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                self->on_read(ec, n);
                            });
}

void connection::on_read(std::error_code ec, std::size_t n) {
    reading_ = false;
    if (state_ == state::closing || state_ == state::closed) return;
    if (ec) {
        close(errc::connection_lost,
              ec == asio::error::eof ? std::string("connection closed by the peer") : ec.message(), false);
        return;
    }
    rend_ += n;
    process_buffer();
    read_more();
}

void connection::process_buffer() {
    in_batch_ = true;
    struct end_batch {
        connection* c;
        ~end_batch() { c->flush_batch(); }
    } at_end{this};
    while ((state_ == state::handshake || state_ == state::open) && !read_paused_) {
        if (!reading_allowed()) {
            read_paused_ = true;
            break;
        }
        std::span<const std::uint8_t> payload;
        std::size_t size = 0;
        const std::size_t limit = frame_limit();
        const auto status = parse_frame({rbuf_.data() + rbegin_, rend_ - rbegin_}, limit, payload, size);
        if (status == frame_status::need_more) break;
        if (status == frame_status::too_large) {
            const auto* h = rbuf_.data() + rbegin_;
            const std::size_t len = (std::size_t{h[0]} << 24) | (std::size_t{h[1]} << 16) |
                                    (std::size_t{h[2]} << 8) | std::size_t{h[3]};
            const auto message = fmt::format("frame of {} bytes exceeds the limit of {} bytes", len, limit);
            log(log_level::warning, node_.options.name, "closing connection from {}: {}",
                remote_address_, message);
            close(errc::frame_too_large, message, true);
            return;
        }
        rbegin_ += size;
        try {
            handle_frame(payload);
        } catch (const rot::error& e) {
            log(log_level::warning, node_.options.name, "closing connection with {}: {}",
                remote_address_, e.message());
            close(to_errc(e.code()), e.message(), true);
            return;
        } catch (const std::exception& e) {
            close(errc::protocol_error, e.what(), true);
            return;
        }
    }
    if (rbegin_ == rend_) {
        rbegin_ = rend_ = 0;
        // A very big frame grew the buffer: give the memory back.
        if (rbuf_.size() > keep_buffer_bytes) binary(initial_read_buffer).swap(rbuf_);
    }
}

void connection::handle_frame(std::span<const std::uint8_t> payload) {
    const msg kind = payload_kind(payload);
    if (state_ == state::handshake) {
        if (server_) {
            if (kind != msg::hello) throw error(errc::protocol_error, "expected a hello");
            on_hello(payload);
        } else if (kind == msg::welcome) {
            on_welcome(payload);
        } else if (kind == msg::refuse) {
            auto f = decode_failure(payload);
            close(to_errc(f.code), "refused: " + f.message, false);
        } else {
            throw error(errc::protocol_error, "expected a welcome");
        }
        return;
    }
    switch (kind) {
        case msg::call:
        case msg::cast: on_request(payload); break;
        case msg::reply:
        case msg::error: on_response(payload); break;
        case msg::goodbye: {
            const auto f = decode_failure(payload);
            close(errc::disconnected, fmt::format("{} said goodbye: {}", peer_name_, f.message), false);
            break;
        }
        default:
            throw error(errc::protocol_error,
                        fmt::format("unexpected message kind {}", static_cast<int>(kind)));
    }
}

// --- Requests arriving -----------------------------------------------------

void connection::on_request(std::span<const std::uint8_t> payload) {
    const request_view r = decode_request(payload);
    auto target = resolve(r);
    if (!target) {
        if (r.id) send_error(r.id, static_cast<errc>(target.code().value()), target.error().message);
        else log(log_level::info, node_.options.name, "cast dropped: {}", target.error().message);
        return;
    }
    const std::string_view module = target->module;
    auto fn = std::move(target->fn);
    if (server_ && server_->inline_handlers()) {
        // Runs now, while the arguments are still in the read buffer.
        running_requests_.fetch_add(1, std::memory_order_relaxed);
        run_request(r.id, fn, module, r.function, r.args);
        request_finished(0);
        return;
    }
    running_requests_.fetch_add(1, std::memory_order_relaxed);
    running_bytes_.fetch_add(r.args.size(), std::memory_order_relaxed);
    asio::post(node_.handlers, [self = shared_from_this(), id = r.id, fn = std::move(fn),
                                module = std::string(module), function = std::string(r.function),
                                args = binary(r.args.begin(), r.args.end())] {
        self->run_request(id, fn, module, function, args);
        self->request_finished(args.size());
    });
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
                             std::string_view function, std::span<const std::uint8_t> args) {
    result<term> out = [&]() -> result<term> {
        term::list_type values;
        try {
            term list = from_binary(args);
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
                send_with([&](binary& b) { append_reply(b, id, *out, peer_max_frame_); });
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
           queued_bytes_.load(std::memory_order_relaxed) <= write_limit();
}

void connection::resume_reading() {
    if (!read_paused_ || !reading_allowed()) return;
    read_paused_ = false;
    process_buffer();
    read_more();
}

void connection::send_error(std::uint64_t id, errc code, std::string message) {
    send_with([&](binary& b) { append_error(b, id, code, message); });
}

// --- Calls going out -------------------------------------------------------

result<std::uint64_t> connection::start_call(const mfa& request, completion_ref&& done,
                                             std::optional<std::chrono::milliseconds> timeout) {
    if (auto full = check_queue(); !full) return full.error();
    const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    bool arm = false;
    bool post = false;
    {
        // The request is encoded first (it may be too large: then nothing was
        // registered), and registered before the lock lets it be written, so
        // that no reply can arrive for a call the table does not know.
        std::lock_guard wlock(write_mutex_);
        const std::size_t before = out_.size();
        if (!write_closed_) {
            try {
                append_request(out_, id, request, peer_max_frame_);
            } catch (const rot::error& e) {
                return e.to_failure();
            }
        }
        {
            std::lock_guard plock(pending_mutex_);
            if (write_closed_ || !accepting_calls_) {
                out_.resize(before);
                return closing_ ? close_reason_
                                : failure{make_error_code(errc::not_connected), "connection is not open"};
            }
            pending_call p{std::move(done)};
            if (timeout) {
                p.timeout = *timeout;
                p.deadline = clock::now() + *timeout;
                // Calls with equal timeouts end in the order they start, so the
                // timer rarely needs moving.
                if (p.deadline < deadline_armed_) {
                    deadline_armed_ = p.deadline;
                    arm = true;
                }
            }
            pending_.insert(id, std::move(p));
        }
        queued_bytes_.fetch_add(out_.size() - before, std::memory_order_relaxed);
        post = start_writing_locked();
    }
    if (post) asio::post(strand_, [self = shared_from_this()] { self->write_queued(); });
    if (arm) asio::post(strand_, [self = shared_from_this()] { self->arm_deadline_timer(); });
    return id;
}

void connection::arm_deadline_timer() {
    clock::time_point at;
    {
        std::lock_guard lock(pending_mutex_);
        at = deadline_armed_;
    }
    if (at == clock::time_point::max() || state_ == state::closed) return;
    deadline_timer_.expires_at(at);
    deadline_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (!ec) self->expire_calls();
    });
}

void connection::expire_calls() {
    std::vector<pending_call> expired;
    {
        std::lock_guard lock(pending_mutex_);
        const auto now = clock::now();
        auto next = clock::time_point::max();
        pending_.remove_if_not(
            [&](const pending_call& c) {
                if (c.deadline <= now) return false;
                next = std::min(next, c.deadline);
                return true;
            },
            [&](pending_call&& c) { expired.push_back(std::move(c)); });
        deadline_armed_ = next;
    }
    for (auto& p : expired)
        p.done->complete(make_error_code(errc::timeout),
                         term::make_string_lossy(
                             fmt::format("no reply from {} within {} ms", peer_name_, p.timeout.count())));
    arm_deadline_timer();
}

result<void> connection::check_queue() const {
    const std::size_t queued = queued_bytes_.load(std::memory_order_relaxed);
    if (queued <= write_limit()) return {};
    return failure{make_error_code(errc::overloaded),
                   fmt::format("{} bytes already wait to be sent to {}, which is not reading them", queued,
                               peer_name_)};
}

result<void> connection::cast(const mfa& request) {
    if (auto full = check_queue(); !full) return full;
    {
        std::lock_guard lock(pending_mutex_);
        if (!accepting_calls_)
            return closing_ ? close_reason_
                            : failure{make_error_code(errc::not_connected), "connection is not open"};
    }
    try {
        send_with([&](binary& b) { append_request(b, 0, request, peer_max_frame_); });
    } catch (const rot::error& e) {
        return e.to_failure();
    }
    return {};
}

bool connection::cancel(std::uint64_t id) {
    std::lock_guard lock(pending_mutex_);
    return pending_.take(id).has_value();
}

void connection::on_response(std::span<const std::uint8_t> payload) {
    const response_view v = decode_response(payload);
    completion_ref done;
    {
        std::lock_guard lock(pending_mutex_);
        auto p = pending_.take(v.id);
        // Unknown ids are replies that arrived after their call timed out.
        if (!p) return;
        done = std::move(p->done);
    }
    if (!v.ok) {
        done->complete(v.code, term::make_string_lossy(v.message));
        return;
    }
    term value;
    try {
        value = from_binary(v.value);
    } catch (const rot::error& e) {
        done->complete(e.code(), term::make_string_lossy(e.message()));
        throw;
    }
    done->complete({}, std::move(value));
}

// --- Writing ---------------------------------------------------------------

template <class Append>
void connection::send_with(Append&& append) {
    bool post = false;
    {
        std::lock_guard lock(write_mutex_);
        if (write_closed_) return;
        const std::size_t before = out_.size();
        append(out_);
        queued_bytes_.fetch_add(out_.size() - before, std::memory_order_relaxed);
        post = start_writing_locked();
    }
    if (post) asio::post(strand_, [self = shared_from_this()] { self->write_queued(); });
}

bool connection::start_writing_locked() {
    if (writing_) return false;
    // Sent while handling a read batch (an inline handler's reply, a call
    // made from a completion): flush_batch() writes them all at once.
    if (strand_.running_in_this_thread() && in_batch_) return false;
    // Nothing in flight: write from this thread, sparing the I/O thread a
    // wake-up; only what the socket does not take at once goes to it.
    if (write_now()) return false;
    writing_ = true;
    return true;
}

bool connection::write_now() {
    const bool was_over = queued_bytes_.load(std::memory_order_relaxed) > write_limit();
    std::size_t sent = 0;
    while (sent < out_.size() && fd_ >= 0) {
        const ssize_t n = ::send(fd_, out_.data() + sent, out_.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) sent += static_cast<std::size_t>(n);
        else if (n < 0 && errno == EINTR) continue;
        else break;  // EAGAIN, or an error the asynchronous write will report
    }
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(sent));
    queued_bytes_.fetch_sub(sent, std::memory_order_relaxed);
    // Reading may have stopped for these bytes; no write completion will come
    // to restart it, so ask the strand (which knows whether it stopped).
    if (was_over && queued_bytes_.load(std::memory_order_relaxed) <= write_limit())
        asio::post(strand_, [self = shared_from_this()] { self->resume_reading(); });
    return out_.empty();
}

void connection::send(const binary& frame) {
    send_with([&](binary& out) { out.insert(out.end(), frame.begin(), frame.end()); });
}

void connection::flush_batch() {
    in_batch_ = false;
    {
        std::lock_guard lock(write_mutex_);
        if (out_.empty() || write_closed_ || !start_writing_locked()) return;
    }
    write_queued();
}

void connection::write_queued() {
    {
        std::lock_guard lock(write_mutex_);
        writing_buf_.swap(out_);
    }
    if (state_ == state::closed || writing_buf_.empty()) {
        queued_bytes_.fetch_sub(writing_buf_.size(), std::memory_order_relaxed);
        writing_buf_.clear();
        std::lock_guard lock(write_mutex_);
        writing_ = false;
        return;
    }
    asio::async_write(socket_, asio::buffer(writing_buf_), [self = shared_from_this()](std::error_code ec, std::size_t) {
        self->on_write(ec);
    });
}

void connection::on_write(std::error_code ec) {
    queued_bytes_.fetch_sub(writing_buf_.size(), std::memory_order_relaxed);
    writing_buf_.clear();
    // After a burst of very big frames, give the memory back.
    if (writing_buf_.capacity() > keep_buffer_bytes) binary().swap(writing_buf_);
    bool more = false;
    {
        std::lock_guard lock(write_mutex_);
        if (ec) {
            queued_bytes_.fetch_sub(out_.size(), std::memory_order_relaxed);
            out_.clear();
            write_closed_ = true;
        }
        more = !out_.empty();
        writing_ = more;
    }
    if (ec) {
        if (state_ == state::closing) finish_close();
        else if (state_ != state::closed) close(errc::connection_lost, ec.message(), false);
        return;
    }
    if (more) write_queued();
    else if (state_ == state::closing) finish_close();
    if (read_paused_) resume_reading();
}

// --- Closing ---------------------------------------------------------------

void connection::close(errc code, std::string message, bool goodbye) {
    std::vector<pending_call> failed;
    bool was_open = false;
    {
        std::lock_guard lock(pending_mutex_);
        if (closing_) return;
        closing_ = true;
        closing_flag_.store(true, std::memory_order_release);
        was_open = accepting_calls_;
        accepting_calls_ = false;
        close_reason_ = failure{make_error_code(code), message};
        pending_.remove_if_not([](const pending_call&) { return false; },
                               [&](pending_call&& c) { failed.push_back(std::move(c)); });
    }
    // Out of the peer table first, so that a completion retrying its call
    // does not get this connection back (pick() also skips closing ones).
    // Only once attached: before that the handshake may still be writing
    // peer_name_, and the strand detaches below, after any attach.
    if (attached_.load(std::memory_order_acquire)) node_.detach(*this, failure{make_error_code(code), message});
    for (auto& p : failed) p.done->complete(make_error_code(code), term::make_string_lossy(message));
    if (server_) server_->forget(this);
    {
        std::lock_guard lock(write_mutex_);
        if (goodbye && was_open && !write_closed_) {
            const binary bye = encode_goodbye(code, message);
            out_.insert(out_.end(), bye.begin(), bye.end());
            queued_bytes_.fetch_add(bye.size(), std::memory_order_relaxed);
            if (!writing_) {
                writing_ = true;
                asio::post(strand_, [self = shared_from_this()] { self->write_queued(); });
            }
        }
        write_closed_ = true;
    }
    asio::dispatch(strand_, [self = shared_from_this(), reason = failure{make_error_code(code), message}] {
        // On the strand, where the handshake attaches: a connection closed
        // while saying hello is detached after it attached, never before.
        if (self->attached_.load(std::memory_order_acquire)) self->node_.detach(*self, reason);
        if (self->state_ == state::closed) return;
        self->state_ = state::closing;
        // Frames still queued (a refuse, a goodbye, replies of this batch) go out first.
        bool start = false;
        {
            std::lock_guard lock(self->write_mutex_);
            if (!self->writing_ && !self->out_.empty()) self->writing_ = start = true;
            if (!self->writing_) return self->finish_close();
        }
        if (start) self->write_queued();
        self->timer_.expires_after(flush_limit);
        self->timer_.async_wait([self](std::error_code ec) {
            if (!ec) self->finish_close();
        });
    });
}

void connection::finish_close() {
    if (state_ == state::closed) return;
    state_ = state::closed;
    timer_.cancel();
    deadline_timer_.cancel();
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    failure reason;
    {
        std::lock_guard lock(pending_mutex_);
        reason = close_reason_;
    }
    finish_dial(std::move(reason));
}

connection_info connection::info() const {
    connection_info i;
    i.peer = peer_name_;
    i.peer_node = peer_node_;
    i.remote_address = remote_address_;
    i.accepted = server_ != nullptr;
    if (server_) i.server = server_->name();
    i.jail = jail_;
    i.bytes_queued = queued_bytes_.load(std::memory_order_relaxed);
    i.requests_running = running_requests_.load(std::memory_order_relaxed);
    i.request_bytes = running_bytes_.load(std::memory_order_relaxed);
    std::lock_guard lock(pending_mutex_);
    i.calls_pending = pending_.size();
    return i;
}

}  // namespace rot::detail
