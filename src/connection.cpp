#include "connection.hpp"

#include <asio/connect.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>

#include <algorithm>

#include "server.hpp"

namespace rot::detail {

namespace {
constexpr std::size_t initial_read_buffer = 16 * 1024;
constexpr std::size_t min_read_space = 4 * 1024;
// A frame up to this size gets room for all of it as soon as its header is
// read; a larger one grows the buffer as its bytes arrive (at most doubling
// what is here), so a header alone never reserves much.
constexpr std::size_t direct_frame_bytes = 1u << 20;
// A frame this large is read up to its end (and min_read_space more): little
// of the next frame lands in its buffer, and little needs moving after it.
constexpr std::size_t large_frame_bytes = 16 * 1024;
// Buffers grown past this by a big frame are given back once empty.
constexpr std::size_t keep_buffer_bytes = 1u << 20;
// How long a closing connection may take to flush its goodbye.
constexpr auto flush_limit = std::chrono::seconds(1);
// The first byte of a TLS handshake record (a ClientHello). A rot frame
// before the handshake starts with 0 (its length is under 4096).
constexpr int tls_handshake_record = 0x16;
// Pings never come more often than this, whatever the peers ask for; a peer
// that pings far more often is cut off (connection.hpp max_pings_per_second).
constexpr auto min_ping_interval = std::chrono::milliseconds(100);

}  // namespace

connection::connection(node_impl& node, strand_t strand, dial_plan plan)
    : node_(node),
      strand_(std::move(strand)),
      transport_(strand_),
      timer_(strand_),
      dial_(std::move(plan)),
      state_(state::connecting),
      deadline_timer_(strand_) {
    node_.connection_opened();
}

connection::connection(node_impl& node, strand_t strand, std::shared_ptr<server> srv)
    : node_(node),
      strand_(std::move(strand)),
      transport_(strand_),
      timer_(strand_),
      server_(std::move(srv)),
      state_(state::connecting),
      counted_in_handshakes_(true),
      deadline_timer_(strand_) {
    node_.connection_opened();
}

connection::~connection() {
    if (nonce_registered_) node_.forget_nonce(handshake_->own_nonce());
    if (counted_in_handshakes_) server_->handshake_ended();
    node_.connection_finished();
}

// --- Setting up: connect, TLS, handshake ----------------------------------------

void connection::dial(dial_done done) {
    asio::dispatch(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
        self->dial_done_ = std::move(done);
        // Closed before the dial began (the node is stopping).
        if (self->state_ != state::connecting) return self->finish_dial(self->calls_.reason());
        self->arm_state_timer(self->dial_->deadline);
        if (!self->dial_->endpoints.empty()) return self->connect_to(self->dial_->endpoints);
        auto resolver = std::make_shared<asio::ip::tcp::resolver>(self->strand_);
        resolver->async_resolve(self->dial_->host, std::to_string(self->dial_->options.port),
                                [self, resolver](std::error_code ec, asio::ip::tcp::resolver::results_type found) {
                                    if (self->state_ != state::connecting) return;
                                    if (ec)
                                        return self->close(errc::connect_failed,
                                                           fmt::format("cannot resolve {}: {}", self->dial_->host,
                                                                       ec.message()),
                                                           false);
                                    self->connect_to(found);
                                });
    });
}

void connection::connect_to(const asio::ip::tcp::resolver::results_type& endpoints) {
    asio::async_connect(transport_.dialing_socket(), endpoints,
                        [self = shared_from_this()](std::error_code ec, const asio::ip::tcp::endpoint&) {
                            if (self->state_ != state::connecting) return;
                            if (ec)
                                return self->close(errc::connect_failed,
                                                   fmt::format("cannot connect: {}", ec.message()), false);
                            self->transport_.adopt(std::move(self->transport_.dialing_socket()));
                            self->transport_.set_user_timeout(self->node_.options.dead_peer_timeout);
                            self->start_securing();
                        });
}

void connection::accept(asio::ip::tcp::socket socket) {
    asio::dispatch(strand_, [self = shared_from_this(), socket = std::move(socket)]() mutable {
        if (self->state_ != state::connecting) return;
        self->transport_.adopt(std::move(socket));
        self->transport_.set_user_timeout(self->node_.options.dead_peer_timeout);
        self->arm_state_timer(std::chrono::steady_clock::now() + self->node_.options.connect_timeout);
        self->start_securing();
    });
}

void connection::start_pipe(int fd, std::string local, std::string remote, dial_done done) {
    asio::dispatch(strand_, [self = shared_from_this(), fd, local = std::move(local), remote = std::move(remote),
                             done = std::move(done)]() mutable {
        self->dial_done_ = std::move(done);
        self->transport_.adopt_pipe(fd, std::move(local), std::move(remote));
        if (self->state_ != state::connecting) return self->finish_dial(self->calls_.reason());
        self->arm_state_timer(self->dial_ ? self->dial_->deadline
                                          : std::chrono::steady_clock::now() + self->node_.options.connect_timeout);
        self->start_securing();
    });
}

void connection::arm_state_timer(std::chrono::steady_clock::time_point at) {
    timer_.expires_at(at);
    // A wait that had already expired when the timer was re-armed still
    // runs: the generation tells it that it is stale.
    timer_.async_wait([self = shared_from_this(), generation = ++timer_generation_](std::error_code ec) {
        if (ec || generation != self->timer_generation_) return;
        switch (self->state_) {
            case state::connecting:
            case state::securing:
            case state::handshake:
                return self->close(errc::timeout,
                                   self->dial_ ? "timed out connecting and saying hello"
                                               : "no handshake before the deadline (connect_timeout)",
                                   false);
            case state::open: return self->on_tick();
            case state::closing: return self->finish_close();
            case state::closed: return;
        }
    });
}

void connection::cancel_state_timer() {
    ++timer_generation_;
    timer_.cancel();
}

void connection::start_securing() {
    state_ = state::securing;
    const tls_context& tls = dial_ ? dial_->tls : server_->tls();
    if (!tls) return start_handshake();
    if (dial_) {
        transport_.secure(*tls, dial_->host);
        return transport_.async_tls_handshake(false, [self = shared_from_this()](std::error_code ec) {
            self->on_secured(ec);
        });
    }
    sniff_tls_client();
}

// A TLS server looks at the first byte before it speaks TLS: a plaintext rot
// node is told in words (its own protocol) why it is refused.
void connection::sniff_tls_client() {
    transport_.async_wait_readable([self = shared_from_this()](std::error_code ec) {
        if (self->state_ != state::securing) return;
        const int first = ec ? -1 : self->transport_.first_byte();
        if (first == tls_handshake_record) {
            self->transport_.secure(*self->server_->tls(), {});
            return self->transport_.async_tls_handshake(true, [self](std::error_code ec) { self->on_secured(ec); });
        }
        if (first < 0) return self->close(errc::connection_lost, "closed by the peer before the TLS handshake", false);
        const auto why = fmt::format("server {} accepts TLS connections only (its transport is tls)",
                                     self->server_->name());
        self->server_->log_refusal(fmt::format("refusing {}: not TLS: {}", self->transport_.remote_address(), why));
        if (first == 0) self->transport_.refuse_and_close(encode_refuse(errc::tls_failed, why));
        self->close(errc::tls_failed, why, false);
    });
}

void connection::on_secured(std::error_code ec) {
    if (state_ != state::securing) return;
    if (!ec) return start_handshake();
    const std::string why = transport_.tls_failure(ec);
    if (server_) server_->log_refusal(fmt::format("refusing {}: {}", transport_.remote_address(), why));
    close(errc::tls_failed, why, false);
}

void connection::start_handshake() {
    state_ = state::handshake;
    handshake_self self{node_.options.name, node_.incarnation, static_cast<std::uint32_t>(node_.options.max_frame_bytes),
                        transport_.secured() ? flag_tls : 0,
                        static_cast<std::uint32_t>(std::min<std::int64_t>(node_.options.dead_peer_timeout.count(),
                                                                          UINT32_MAX))};
    try {
        if (dial_) {
            handshake_.emplace(handshake::dialer(std::move(self), dial_->options.name, dial_->cookie));
        } else {
            handshake_.emplace(handshake::acceptor(std::move(self), server_->name(),
                                                   [srv = server_](std::string_view client) {
                                                       return srv->cookie_for(client);
                                                   }));
        }
    } catch (const rot::error& e) {
        return close(to_errc(e.code()), e.message(), false);
    }
    node_.own_nonce(handshake_->own_nonce(), transport_.local_address(), transport_.remote_address());
    nonce_registered_ = true;
    if (dial_) send(handshake_->hello_frame());
    start_reading();
}

void connection::on_handshake_frame(std::span<const std::uint8_t> payload) {
    auto step = handshake_->on_frame(payload);
    if (step.is == handshake::status::failed) return handshake_failed(std::move(step.why), step.send);
    // A nonce of ours coming back is a reflection: someone relaying this
    // node's own handshake to itself to borrow its proof.
    if (node_.reflected(handshake_->peer_nonce(), transport_.local_address(), transport_.remote_address())) {
        const std::string why = "authentication failed: the peer sent back this node's own nonce (a reflected handshake)";
        return handshake_failed({make_error_code(errc::auth_failed), why},
                                server_ ? encode_refuse(errc::auth_failed, "authentication failed") : byte_vector{});
    }
    if (step.is == handshake::status::in_progress) {
        if (server_ && server_->stopped())
            return handshake_failed({make_error_code(errc::stopped), "server is stopping"},
                                    encode_refuse(errc::stopped, "server is stopping"));
        send(step.send);
        return;
    }
    // Authenticated. The dialer's failures from here on reach an acceptor
    // that thinks the connection open: it is told with a goodbye.
    const auto refusal = [&](const failure& f) {
        return server_ ? encode_refuse(to_errc(f.code), f.message) : encode_goodbye(to_errc(f.code), f.message);
    };
    if (auto bad = check_authenticated()) return handshake_failed(*bad, refusal(*bad));
    if (dial_ && !dial_->options.server.empty() && handshake_->peer().name != dial_->options.server) {
        const failure wrong{make_error_code(errc::name_conflict),
                            fmt::format("the server at {} is {}, not {}", transport_.remote_address(),
                                        handshake_->peer().name, dial_->options.server)};
        return handshake_failed(wrong, refusal(wrong));
    }
    peer_ = handshake_->peer();
    jail_ = dial_ ? dial_->options.jail : server_->jail_for(peer_.name);
    route_ = {peer_.node, peer_.incarnation, peer_.key_id, dial_.has_value(),
              dial_ ? dial_->options.name : server_->name(), jail_};
    // Before the name is published: the welcome is queued (a call made
    // through the name at once must follow it on the wire; the batch writes
    // it), and calls are taken (nobody who finds the connection through the
    // name is told it is not open yet).
    out_queue::mark welcome_at;
    if (server_) {
        std::lock_guard lock(write_mutex_);
        welcome_at = out_.end_mark();
        out_.append(step.send);
        queued_bytes_.fetch_add(step.send.size(), std::memory_order_relaxed);
    }
    calls_.open();
    state_ = state::open;
    if (auto r = node_.attach(shared_from_this(), peer_.name, route_); !r) {
        state_ = state::handshake;
        if (server_) {
            // Nobody else could have queued anything after it: take it back.
            std::lock_guard lock(write_mutex_);
            queued_bytes_.fetch_sub(step.send.size(), std::memory_order_relaxed);
            out_.truncate(welcome_at);
        }
        return handshake_failed(r.error(), refusal(r.error()));
    }
    attached_.store(true, std::memory_order_release);
    established();
    if (dial_) finish_dial(peer_.name);
}

std::optional<failure> connection::check_authenticated() const {
    const tls_options& tls = dial_ ? dial_->options.tls : server_->options().tls;
    if (!transport_.secured() || !tls.check_node_name) return std::nullopt;
    const std::string& node = handshake_->peer().node;
    const auto names = transport_.peer_certificate_names();
    if (std::find(names.begin(), names.end(), node) != names.end()) return std::nullopt;
    return failure{make_error_code(errc::auth_failed),
                   fmt::format("authentication failed: node {} does not match its certificate (which names {})", node,
                               names.empty() ? std::string("nothing") : fmt::format("{}", fmt::join(names, ", ")))};
}

void connection::handshake_failed(failure why, const byte_vector& tell_peer) {
    if (server_) {
        const auto& p = handshake_->peer();
        server_->log_refusal(fmt::format("refusing {}{}: {}", transport_.remote_address(),
                                         p.name.empty() ? "" : fmt::format(" ({} of node {})", p.name, p.node),
                                         why.message));
    }
    if (!tell_peer.empty()) send(tell_peer);
    close(to_errc(why.code), why.message, false);
}

void connection::established() {
    was_open_ = true;
    node_.forget_nonce(handshake_->own_nonce());
    nonce_registered_ = false;
    handshake_.reset();
    if (std::exchange(counted_in_handshakes_, false)) server_->handshake_ended();
    // We ping often enough for the peer's dead-peer timeout too (a third of
    // it), whatever our own heartbeat, but never more than a few times a second.
    ping_interval_ = node_.options.heartbeat_interval;
    if (peer_.dead_peer_ms > 0)
        ping_interval_ = std::min(ping_interval_, std::chrono::milliseconds(peer_.dead_peer_ms / 3));
    ping_interval_ = std::max(ping_interval_, min_ping_interval);
    last_read_ = std::chrono::steady_clock::now();
    next_ping_ = last_read_ + ping_interval_;
    schedule_tick();
}

void connection::finish_dial(result<std::string> r) {
    if (auto done = std::exchange(dial_done_, nullptr)) done(std::move(r));
}

// --- Reading ---------------------------------------------------------------

void connection::start_reading() {
    new_read_chunk(initial_read_buffer);
    read_more();
}

void connection::new_read_chunk(std::size_t size) {
    auto chunk = rchunks_->take(size);
    const std::size_t have = rend_ - rbegin_;
    if (have > 0) std::memcpy(chunk.data, rbuf_ + rbegin_, have);
    rbuf_ = chunk.data;
    rchunk_ = std::move(chunk.owner);
    rchunk_lent_ = false;
    rcap_ = chunk.size;
    read_buffer_bytes_.store(rcap_, std::memory_order_relaxed);
    rbegin_ = 0;
    rend_ = have;
}

void connection::read_more() {
    if (reading_ || read_paused_ || state_ == state::closing || state_ == state::closed) return;
    // `want`: the bytes the buffer must hold from rbegin_ on: room for the
    // rest of a partly received frame (its length is already checked against
    // the limit; see direct_frame_bytes), or at least min_read_space.
    const std::size_t have = rend_ - rbegin_;
    std::size_t want = have + min_read_space;
    std::size_t frame = 0;
    if (have >= frame_header_bytes) {
        frame = frame_header_bytes + frame_length(rbuf_ + rbegin_);
        want = std::max(want, frame <= direct_frame_bytes ? frame + min_read_space
                                                          : std::min(frame, std::max(rcap_, 2 * have)));
    }
    // Bytes below rend_ may be shared (a job's arguments, a binary a handler
    // kept): only a chunk never lent is reused from its start.
    const bool ours = !rchunk_lent_;
    if (have == 0 && ours && rcap_ > keep_buffer_bytes) {
        new_read_chunk(initial_read_buffer);  // a big frame's buffer is given back
    } else if (rcap_ - rbegin_ < want || rcap_ - rend_ < min_read_space) {
        if (ours && rcap_ >= want && rcap_ <= keep_buffer_bytes) {
            std::memmove(rbuf_, rbuf_ + rbegin_, have);
            rend_ = have;
            rbegin_ = 0;
        } else {
            new_read_chunk(std::max(want, initial_read_buffer));
        }
    }
    std::size_t room = rcap_ - rend_;
    if (frame >= large_frame_bytes) room = std::min(room, rbegin_ + frame + min_read_space - rend_);
    reading_ = true;
    transport_.async_read_some(asio::buffer(rbuf_ + rend_, room),
                               [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                   self->on_read(ec, n);
                               });
}

void connection::on_read(std::error_code ec, std::size_t n) {
    reading_ = false;
    if (state_ == state::closing || state_ == state::closed) return;
    if (ec) {
        // A TLS alert (under TLS 1.3 a server checks a client's certificate
        // after the client has finished its side of the TLS handshake).
        if (transport_.secured() && ec.category() == asio::error::get_ssl_category())
            return close(errc::tls_failed, transport_.tls_failure(ec), false);
        const bool eof = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
        close(errc::connection_lost, eof ? std::string("connection closed by the peer") : ec.message(), false);
        return;
    }
    rend_ += n;
    // Any byte is a sign of life, a partial frame's included: a big message
    // never looks like death. (The tick reads this; no timer moves per read.)
    last_read_ = std::chrono::steady_clock::now();
    process_buffer();
    read_more();
    // A frame begun: its stall deadline may come before the next tick.
    if (state_ == state::open && rbegin_ != rend_ && !read_paused_ &&
        last_read_ + node_.options.stalled_frame_timeout < tick_at_)
        schedule_tick();
}

// --- Liveness: one timer per open connection ---------------------------------
//
// A tick comes when something is due: a ping (nothing sent for
// heartbeat_interval), the peer's death (nothing heard for dead_peer_timeout),
// a stalled frame. While reading is paused (back-pressure) nothing heard is
// nobody's fault, so only pings are due.

void connection::schedule_tick() {
    const auto& o = node_.options;
    auto next = next_ping_;
    if (!read_paused_) {
        next = std::min(next, last_read_ + o.dead_peer_timeout);
        if (rbegin_ != rend_) next = std::min(next, last_read_ + o.stalled_frame_timeout);
    }
    tick_at_ = next;
    arm_state_timer(next);
}

void connection::on_tick() {
    const auto& o = node_.options;
    const auto now = std::chrono::steady_clock::now();
    if (!read_paused_) {
        const auto quiet = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_read_);
        if (quiet >= o.dead_peer_timeout) {
            const auto message = fmt::format("{} is down: not a word from it for {} ms", peer_.name, quiet.count());
            log(log_level::warning, node_.options.name, "{}", message);
            return close(errc::connection_lost, message, true);
        }
        if (rbegin_ != rend_ && quiet >= o.stalled_frame_timeout) {
            const std::size_t have = rend_ - rbegin_;
            const auto message = fmt::format(
                "a frame stalled: {} of its {} bytes arrived, then nothing for {} ms", have,
                have >= frame_header_bytes ? std::to_string(frame_header_bytes + frame_length(rbuf_ + rbegin_))
                                           : std::string("?"),
                o.stalled_frame_timeout.count());
            log(log_level::warning, node_.options.name, "closing connection with {}: {}", transport_.remote_address(),
                message);
            return close(errc::timeout, message, true);
        }
    }
    // Quiet for a heartbeat: the read buffers a burst left to be used again go.
    if (now - last_read_ >= o.heartbeat_interval) rchunks_->clear();
    if (now >= next_ping_) {
        if (!sent_since_ping_.exchange(false, std::memory_order_relaxed)) {
            send(encode_ping());
            sent_since_ping_.store(false, std::memory_order_relaxed);  // a ping is not traffic of ours
        }
        next_ping_ = now + ping_interval_;
    }
    schedule_tick();
}

void connection::paused_reading() {
    // Bytes we do not read cannot be late: the tick stops counting silence.
    read_paused_ = true;
}

void connection::on_ping() {
    // A peer that pings more often than any sensible heartbeat is cut off.
    const auto now = std::chrono::steady_clock::now();
    if (now - ping_window_ >= std::chrono::seconds(1)) {
        ping_window_ = now;
        pings_in_window_ = 0;
    }
    if (++pings_in_window_ > max_pings_per_second)
        throw error(errc::protocol_error, fmt::format("more than {} pings in a second", max_pings_per_second));
}

void connection::process_buffer() {
    in_batch_ = true;
    struct end_batch {
        connection* c;
        ~end_batch() { c->flush_batch(); }
    } at_end{this};
    while ((state_ == state::handshake || state_ == state::open) && !read_paused_) {
        if (state_ == state::open && !reading_allowed()) {
            paused_reading();
            break;
        }
        std::span<const std::uint8_t> payload;
        std::size_t size = 0;
        const std::size_t limit = frame_limit();
        const auto status = parse_frame({rbuf_ + rbegin_, rend_ - rbegin_}, limit, payload, size);
        if (status == frame_status::need_more) break;
        if (status == frame_status::too_large) {
            if (state_ == state::handshake && server_ && rbuf_[rbegin_] == tls_handshake_record) {
                // A TLS client on a plaintext server: its ClientHello reads as a huge frame.
                const auto why = fmt::format("server {} does not speak TLS (its transport is tcp)", server_->name());
                return handshake_failed({make_error_code(errc::tls_failed), why}, encode_refuse(errc::tls_failed, why));
            }
            const auto message = fmt::format("frame of {} bytes exceeds the limit of {} bytes",
                                             frame_length(rbuf_ + rbegin_), limit);
            log(log_level::warning, node_.options.name, "closing connection from {}: {}", transport_.remote_address(),
                message);
            close(errc::frame_too_large, message, true);
            return;
        }
        rbegin_ += size;
        try {
            handle_frame(payload);
        } catch (const rot::error& e) {
            log(log_level::warning, node_.options.name, "closing connection with {}: {}", transport_.remote_address(),
                e.message());
            close(to_errc(e.code()), e.message(), true);
            return;
        } catch (const std::exception& e) {
            close(errc::protocol_error, e.what(), true);
            return;
        }
    }
    // All handled, and nothing decoded from the buffer was lent: the next
    // read starts at its beginning. (read_more() gives a big one back.)
    if (rbegin_ == rend_ && !rchunk_lent_) rbegin_ = rend_ = 0;
}

std::size_t connection::frame_limit() const noexcept {
    return state_ == state::open ? node_.options.max_frame_bytes : handshake_max_frame;
}

void connection::handle_frame(std::span<const std::uint8_t> payload) {
    if (state_ == state::handshake) return on_handshake_frame(payload);
    switch (const msg kind = payload_kind(payload)) {
        case msg::call:
        case msg::cast: on_request(payload); break;
        case msg::reply:
        case msg::error: on_response(payload); break;
        case msg::goodbye: {
            const auto f = decode_failure(payload);
            close(errc::disconnected, fmt::format("{} said goodbye: {}", peer_.name, f.message), false);
            break;
        }
        case msg::ping:
            if (payload.size() != 1) throw error(errc::protocol_error, "a ping carries nothing");
            on_ping();
            break;
        default:
            throw error(errc::protocol_error, fmt::format("unexpected message kind {}", static_cast<int>(kind)));
    }
}

// --- Calls going out -------------------------------------------------------

result<std::uint64_t> connection::start_call(const mfa& request, completion_ref& done,
                                             std::optional<std::chrono::milliseconds> timeout) {
    if (auto full = check_queue(); !full) return full.error();
    const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    if (current_log_level() <= log_level::debug)
        log(log_level::debug, node_.options.name, "call #{} to {}: {}:{}/{}", id, peer_.name, request.module,
            request.function, request.args.size());
    bool arm = false;
    bool post = false;
    {
        // The request is encoded first (it may be too large: then nothing was
        // registered), and registered before the lock lets it be written, so
        // that no reply can arrive for a call the table does not know.
        std::lock_guard lock(write_mutex_);
        if (write_closed_) return unsendable();
        const std::size_t before = out_.size();
        const auto mark = out_.end_mark();
        try {
            append_request(out_.bytes, id, request, peer_.max_frame, gather(out_));
        } catch (const rot::error& e) {
            return e.to_failure();
        }
        auto added = calls_.add(id, done, timeout);
        if (!added) {
            out_.truncate(mark);
            return unsendable();
        }
        arm = *added;
        queued_bytes_.fetch_add(out_.size() - before, std::memory_order_relaxed);
        sent_since_ping_.store(true, std::memory_order_relaxed);
        post = start_writing_locked();
    }
    if (post) asio::post(strand_, [self = shared_from_this()] { self->write_queued(); });
    if (arm) asio::post(strand_, [self = shared_from_this()] { self->arm_deadline_timer(); });
    return id;
}

void connection::arm_deadline_timer() {
    const auto at = calls_.next_deadline();
    if (at == std::chrono::steady_clock::time_point::max() || state_ == state::closed) return;
    deadline_timer_.expires_at(at);
    deadline_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (!ec) self->expire_calls();
    });
}

void connection::expire_calls() {
    for (auto& p : calls_.expire())
        p.done->complete(make_error_code(errc::timeout),
                         term::make_string_lossy(
                             fmt::format("no reply from {} within {} ms", peer_.name, p.timeout.count())));
    arm_deadline_timer();
}

result<void> connection::check_queue() const {
    const std::size_t queued = queued_bytes_.load(std::memory_order_relaxed);
    if (queued <= write_limit()) return {};
    return failure{make_error_code(errc::overloaded),
                   fmt::format("{} bytes already wait to be sent to {}, which is not reading them", queued,
                               peer_.name)};
}

failure connection::unsendable() const {
    const std::string why = calls_.closing() ? calls_.reason().message : std::string("connection is not open");
    return {make_error_code(errc::not_sent), fmt::format("{} (the request was not sent)", why)};
}

result<void> connection::cast(const mfa& request) {
    if (auto full = check_queue(); !full) return full;
    if (!calls_.is_open()) return unsendable();
    try {
        if (!send_with([&](out_queue& q) { append_request(q.bytes, 0, request, peer_.max_frame, gather(q)); }))
            return unsendable();
    } catch (const rot::error& e) {
        return e.to_failure();
    }
    return {};
}

bool connection::cancel(std::uint64_t id) { return calls_.take(id).has_value(); }

void connection::on_response(std::span<const std::uint8_t> payload) {
    const response_view v = decode_response(payload);
    auto p = calls_.take(v.id);
    // Unknown ids are replies that arrived after their call timed out.
    if (!p) return;
    completion_ref done = std::move(p->done);
    if (!v.ok) {
        done->complete(v.code, term::make_string_lossy(v.message));
        return;
    }
    term value;
    try {
        value = decode_term(v.value, rchunk_, &rchunk_lent_);
    } catch (const rot::error& e) {
        done->complete(e.code(), term::make_string_lossy(e.message()));
        throw;
    }
    done->complete({}, std::move(value));
}

// --- Writing ---------------------------------------------------------------

void connection::send(const byte_vector& frame) {
    send_with([&](out_queue& out) { out.append(frame); });
}

std::size_t connection::write_now_locked() {
    if (out_.spliced.items.empty()) return transport_.write_now(out_.bytes);
    // Large binaries go from where they are: one sendmsg gathers the pieces.
    std::array<::iovec, 64> pieces;
    std::size_t n = 0;
    out_.pieces([&](const std::uint8_t* p, std::size_t size) { pieces[n++] = {const_cast<std::uint8_t*>(p), size}; },
                pieces.size());
    return transport_.write_now(std::span<const ::iovec>(pieces.data(), n));
}

bool connection::start_writing_locked(bool via_strand) {
    if (writing_) return false;
    // Sent while handling a read batch (an inline handler's reply, a call
    // made from a completion): flush_batch() writes them all at once.
    if (strand_.running_in_this_thread() && in_batch_) return false;
    // Nothing in flight on a plain socket: write from this thread, sparing
    // the I/O thread a wake-up; only what the socket does not take at once
    // goes to the strand. (TLS belongs to the strand.)
    if (transport_.writes_from_any_thread() && !via_strand) {
        const bool was_over = over_write_limit();
        const std::size_t sent = write_now_locked();
        consumed(sent);
        out_.consume(sent);
        queued_bytes_.fetch_sub(sent, std::memory_order_relaxed);
        // Reading (or handlers) may have stopped for these bytes; no write
        // completion will come to restart them, so ask the strand.
        if (was_over && !over_write_limit()) asio::post(strand_, [self = shared_from_this()] { self->queue_drained(); });
        if (out_.empty()) return false;
    }
    writing_ = true;
    return true;
}

void connection::flush_batch() {
    in_batch_ = false;
    hand_over_batch();
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
        out_skip_ = 0;  // all of it is on its way now
    }
    if (state_ == state::closed || writing_buf_.empty()) {
        queued_bytes_.fetch_sub(writing_buf_.size(), std::memory_order_relaxed);
        writing_buf_.clear();
        writing_pieces_.clear();
        std::lock_guard lock(write_mutex_);
        writing_ = false;
        return;
    }
    auto done = [self = shared_from_this()](std::error_code ec, std::size_t) { self->on_written(ec); };
    if (writing_buf_.spliced.items.empty()) return transport_.async_write(asio::buffer(writing_buf_.bytes), std::move(done));
    // Gathered: the pieces (bytes, and binaries where they are) as one sequence.
    writing_pieces_.clear();
    writing_buf_.pieces([&](const std::uint8_t* p, std::size_t n) { writing_pieces_.emplace_back(p, n); }, SIZE_MAX);
    transport_.async_write(std::span<const asio::const_buffer>(writing_pieces_), std::move(done));
}

void connection::on_written(std::error_code ec) {
    queued_bytes_.fetch_sub(writing_buf_.size(), std::memory_order_relaxed);
    writing_buf_.clear();  // the binaries it held are let go
    writing_pieces_.clear();
    // After a burst of very big frames, give the memory back.
    if (writing_buf_.bytes.capacity() > keep_buffer_bytes) byte_vector().swap(writing_buf_.bytes);
    if (ec) {
        // The transport is broken: what is still queued is never written
        // (close() sorts its calls out: not sent).
        {
            std::lock_guard lock(write_mutex_);
            writing_ = false;
        }
        if (state_ == state::open || state_ == state::handshake || state_ == state::securing)
            close(errc::connection_lost, ec.message(), false);
        finish_close();
        return;
    }
    bool more = false;
    {
        std::lock_guard lock(write_mutex_);
        more = !out_.empty();
        writing_ = more;
    }
    if (more) write_queued();
    else if (state_ == state::closing) finish_close();
    if (!over_write_limit()) queue_drained();
}

// --- Closing ---------------------------------------------------------------

void connection::close(errc code, std::string message, bool goodbye) {
    const failure reason{make_error_code(code), message};
    std::optional<std::vector<std::pair<std::uint64_t, pending_call>>> failed;
    std::vector<std::uint64_t> unsent;
    {
        // One hold of the write lock decides each call's outcome: from here
        // on nothing more is written, and requests still queued never will be.
        std::lock_guard lock(write_mutex_);
        const bool was_open = calls_.is_open();
        failed = calls_.close(reason);
        if (!failed) return;
        if (!write_closed_) unsent = drop_unsent_requests();
        if (goodbye && was_open && !write_closed_) {
            const byte_vector bye = encode_goodbye(code, message);
            out_.append(bye);
            queued_bytes_.fetch_add(bye.size(), std::memory_order_relaxed);
            if (!writing_) {
                writing_ = true;
                asio::post(strand_, [self = shared_from_this()] { self->write_queued(); });
            }
        }
        write_closed_ = true;
    }
    // Out of the peer table first, so that a completion retrying its call
    // does not get this connection back (pick() also skips closing ones).
    // Only once attached: before that the handshake may still be writing
    // the peer's name, and the strand detaches below, after any attach.
    if (attached_.load(std::memory_order_acquire)) node_.detach(*this, reason);
    // A call whose request never left ends not_sent (it did not run: safe to
    // retry); one that was written ends with the reason (it may have run).
    const auto not_sent = fmt::format("{} (the request was not sent)", message);
    for (auto& [id, p] : *failed) {
        if (std::find(unsent.begin(), unsent.end(), id) != unsent.end())
            p.done->complete(make_error_code(errc::not_sent), term::make_string_lossy(not_sent));
        else
            p.done->complete(reason.code, term::make_string_lossy(message));
    }
    if (server_) server_->forget(this);
    // Requests that have not started never will: nobody waits for their replies.
    for (const auto& job : node_.jobs.drop(*this)) request_finished(job.args.size());
    asio::dispatch(strand_, [self = shared_from_this(), reason] {
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
        self->arm_state_timer(std::chrono::steady_clock::now() + flush_limit);
    });
}

std::vector<std::uint64_t> connection::drop_unsent_requests() {
    // out_ holds whole frames, but for the tail of one a write took part of
    // (the first out_skip_ bytes): what follows has never left this node.
    std::vector<std::uint64_t> ids;
    out_queue kept = out_.filter_frames(out_skip_, [&](std::span<const std::uint8_t> frame) {
        const auto payload = frame.subspan(frame_header_bytes);  // the kind and the id at least
        const msg kind = static_cast<msg>(payload[0]);
        if (kind == msg::call) ids.push_back(reader(payload.subspan(1)).varint());
        return kind != msg::call && kind != msg::cast;
    });
    queued_bytes_.fetch_sub(out_.size() - kept.size(), std::memory_order_relaxed);
    out_.swap(kept);
    return ids;
}

void connection::consumed(std::size_t sent) {
    if (sent <= out_skip_) {
        out_skip_ -= sent;
        return;
    }
    out_skip_ = out_.frames_end(out_skip_, sent) - sent;
}

void connection::finish_close() {
    if (state_ == state::closed) return;
    state_ = state::closed;
    cancel_state_timer();
    deadline_timer_.cancel();
    transport_.close();
    if (nonce_registered_) {
        node_.forget_nonce(handshake_->own_nonce());
        nonce_registered_ = false;
    }
    if (std::exchange(counted_in_handshakes_, false)) server_->handshake_ended();
    finish_dial(calls_.reason());
    if (was_open_ && dial_ && dial_->lost) dial_->lost(calls_.reason());
}

connection_info connection::info() const {
    connection_info i;
    i.peer = peer_.name;
    i.peer_node = peer_.node;
    i.remote_address = transport_.remote_address();
    i.accepted = server_ != nullptr;
    if (server_) i.server = server_->name();
    i.jail = jail_;
    i.transport = transport_.kind();
    i.bytes_queued = queued_bytes_.load(std::memory_order_relaxed);
    {
        std::lock_guard lock(write_mutex_);
        i.bytes_unsent = out_.size() - out_skip_;
    }
    i.requests_running = running_requests_.load(std::memory_order_relaxed);
    i.request_bytes = running_bytes_.load(std::memory_order_relaxed);
    i.read_buffer_bytes = read_buffer_bytes_.load(std::memory_order_relaxed) + rchunks_->kept();
    i.calls_pending = calls_.size();
    return i;
}

}  // namespace rot::detail
