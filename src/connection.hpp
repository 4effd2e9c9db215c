#pragma once
// One connection between two nodes, a small state machine
//   connecting -> securing -> handshake -> open -> closing -> closed
// whose transport, read buffer and timer belong to one strand. The pieces it
// is made of live in their own files: the bytes (transport.hpp), the
// handshake (handshake.hpp, no I/O), the calling half (calls.hpp) and the
// serving half (serving.cpp). Calls may start from any thread; replies are
// matched to them by id.

#include <rot/node.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "calls.hpp"
#include "frame.hpp"
#include "handler_queue.hpp"
#include "handshake.hpp"
#include "node_impl.hpp"
#include "out_queue.hpp"
#include "read_chunks.hpp"
#include "peers.hpp"
#include "transport.hpp"

namespace rot::detail {

class server;

class connection : public std::enable_shared_from_this<connection> {
public:
    using dial_done = std::function<void(result<std::string>)>;

    /// What a dialed connection needs to know.
    struct dial_plan {
        std::string host;                  ///< as given (TLS checks the certificate against it)
        /// Where to dial; empty: host is resolved first (asynchronously).
        asio::ip::tcp::resolver::results_type endpoints;
        connect_options options;           ///< name and jail filled in
        std::string cookie;                ///< the secret to prove
        tls_context tls;                   ///< set for transport::tls
        std::chrono::steady_clock::time_point deadline;
        /// Called (on the connection's strand) when the connection, once
        /// open, closes: a supervised pool dials again.
        std::function<void(const failure&)> lost;
    };

    /// A connection this node dials.
    connection(node_impl& node, strand_t strand, dial_plan plan);
    /// A connection one of our servers accepts.
    connection(node_impl& node, strand_t strand, std::shared_ptr<server> srv);
    ~connection();

    /// Dialer: connects, says hello, and calls `done` with the server's name
    /// (or the failure) once the handshake is over.
    void dial(dial_done done);
    /// Acceptor: takes the accepted socket and waits for the hello.
    void accept(asio::ip::tcp::socket socket);
    /// Either side over one end of a socketpair (tests), `fd` owned from here;
    /// `local` and `remote` name the two ends.
    void start_pipe(int fd, std::string local, std::string remote, dial_done done = {});

    // --- The calling half (calls.hpp) ---
    /// Registers `done` under a new id and sends the request. On failure (the
    /// connection is not open, the request is too large, the peer does not
    /// read) nothing is kept and `done` stays with the caller. With a timeout
    /// the connection fails the call with errc::timeout when it passes;
    /// without, the caller keeps time.
    [[nodiscard]] result<std::uint64_t> start_call(const mfa& request, completion_ref& done,
                                                   std::optional<std::chrono::milliseconds> timeout = {});
    [[nodiscard]] result<void> cast(const mfa& request);
    /// Forgets call `id`; true if it was still pending (the caller then owns its completion).
    bool cancel(std::uint64_t id);

    /// Closes: fails pending calls with (code, message) at once, says goodbye
    /// if asked and the connection was open, then closes the transport. Any thread.
    void close(errc code, std::string message, bool goodbye);

    [[nodiscard]] const strand_t& strand() const noexcept { return strand_; }
    /// True once close() has begun: pick() passes such a connection over.
    [[nodiscard]] bool closing() const noexcept { return calls_.closing(); }
    [[nodiscard]] connection_info info() const;
    /// The peer's name on this connection; set once the handshake is done.
    [[nodiscard]] const std::string& peer_name() const noexcept { return peer_.name; }

private:
    enum class state { connecting, securing, handshake, open, closing, closed };

    // Connection set-up (connection.cpp).
    void connect_to(const asio::ip::tcp::resolver::results_type& endpoints);
    void start_securing();
    void sniff_tls_client();
    void on_secured(std::error_code ec);
    void start_handshake();
    void on_handshake_frame(std::span<const std::uint8_t> payload);
    void handshake_failed(failure why, const byte_vector& tell_peer);
    [[nodiscard]] std::optional<failure> check_authenticated() const;
    void established();
    void finish_dial(result<std::string> r);
    void arm_state_timer(std::chrono::steady_clock::time_point at);
    void cancel_state_timer();

    // Reading (connection.cpp).
    void start_reading();
    void read_more();
    /// Makes a chunk of `size` bytes the read buffer, with the partial frame moved over.
    void new_read_chunk(std::size_t size);
    void on_read(std::error_code ec, std::size_t n);
    void process_buffer();
    void handle_frame(std::span<const std::uint8_t> payload);
    void on_response(std::span<const std::uint8_t> payload);
    [[nodiscard]] std::size_t frame_limit() const noexcept;
    void schedule_tick();
    void on_tick();
    void paused_reading();
    void on_ping();

public:
    // The serving half (serving.cpp), as the handler queue sees it.
    /// Runs a queued request, unless the connection closed meanwhile (then it never runs).
    void run_job(request_job& job);
    [[nodiscard]] bool over_write_limit() const noexcept {
        return queued_bytes_.load(std::memory_order_relaxed) > write_limit();
    }

private:
    void on_request(std::span<const std::uint8_t> payload);
    /// `args` lie in `buffer` (large binaries among them share it).
    /// `on_pool`: on a handler thread (else inline, on the strand).
    void run_request(std::uint64_t id, const function_ptr& fn, std::string_view module,
                     std::string_view function, std::span<const std::uint8_t> args,
                     const std::shared_ptr<const void>& buffer, bool on_pool);
    void request_finished(std::size_t arg_bytes);
    /// At the end of a read batch: its requests for the pool go to the queue at once.
    void hand_over_batch();
    /// Back-pressure: reading stops while too many requests run, their argument
    /// copies hold too many bytes, or too many bytes wait to be written (a
    /// peer that does not read its replies).
    [[nodiscard]] bool reading_allowed() const noexcept;
    /// Resumes what the write limit held: reading, and requests waiting for the pool.
    void queue_drained();
    void resume_reading();
    [[nodiscard]] std::size_t write_limit() const noexcept { return 4 * node_.options.max_frame_bytes; }
    /// registry::resolve, remembering the last few answers: functions are
    /// never removed and a connection's jail is fixed, so hits stay true.
    result<registry::target> resolve(const request_view& r);
    void send_error(std::uint64_t id, errc code, std::string message);

    // The calling half's timer (connection.cpp).
    void arm_deadline_timer();
    void expire_calls();
    [[nodiscard]] result<void> check_queue() const;
    /// Why a request cannot go out now: not_sent, with the reason.
    [[nodiscard]] failure unsendable() const;

    // Writing (connection.cpp): one write in flight; frames are appended to
    // out_ by any thread and handed to the transport by whoever finds no
    // write in flight.
    /// Appends a frame with append(out) and makes sure it gets written; false
    /// if writing has ended. Exceptions from append propagate; nothing is then queued.
    /// With `via_strand`, the frame is left to the I/O thread's write even
    /// when this thread could write it now: more frames are coming (a pool
    /// handler's reply with others of the connection still to run), and the
    /// I/O thread takes them together.
    template <class Append>
    bool send_with(Append&& append, bool via_strand = false);
    void send(const byte_vector& frame);
    /// Where large binaries of frames for `q` go (plain TCP: left out and
    /// gathered when written); nullptr: copied in (TLS copies anyway).
    [[nodiscard]] splices* gather(out_queue& q) noexcept {
        return transport_.writes_from_any_thread() ? &q.spliced : nullptr;
    }
    /// Under write_mutex_: writes what the socket takes now of out_ (from any thread).
    [[nodiscard]] std::size_t write_now_locked();
    /// Under write_mutex_, after frames were appended: starts them on their
    /// way; true when the caller must post write_queued() once unlocked.
    bool start_writing_locked(bool via_strand = false);
    void flush_batch();
    void write_queued();
    void on_written(std::error_code ec);
    /// Under write_mutex_: `sent` bytes of out_ were written (before they are erased).
    void consumed(std::size_t sent);
    /// Under write_mutex_, closing: takes the requests never written out of
    /// out_ and returns the ids of the calls among them.
    [[nodiscard]] std::vector<std::uint64_t> drop_unsent_requests();
    void finish_close();

    node_impl& node_;
    strand_t strand_;
    transport transport_;
    /// The deadline of the current state: the handshake (connect_timeout), a
    /// stalled frame, the goodbye's flush.
    asio::steady_timer timer_;
    std::shared_ptr<server> server_;  ///< set when accepted
    std::optional<dial_plan> dial_;   ///< set when dialed
    dial_done dial_done_;

    // Strand only.
    state state_;
    std::optional<handshake> handshake_;
    bool nonce_registered_ = false;
    bool counted_in_handshakes_ = false;  ///< the server counts us among its handshakes
    std::uint64_t timer_generation_ = 0;  ///< which arming of timer_ is current
    /// The read buffer: a chunk shared with what was decoded from it (pool
    /// jobs, large binaries). Once lent it is never moved or overwritten
    /// below rend_; when full, a new chunk takes the partial frame. (Lent is
    /// known on the strand as it happens: no other thread's reference count
    /// is consulted.)
    std::shared_ptr<const void> rchunk_;
    bool rchunk_lent_ = false;
    /// Where chunks come from and go back to once nobody holds them; emptied
    /// when the connection has been quiet for a heartbeat.
    std::shared_ptr<read_chunks> rchunks_ = std::make_shared<read_chunks>();
    std::atomic<std::size_t> read_buffer_bytes_{0};  ///< rcap_, for info() from any thread
    std::uint8_t* rbuf_ = nullptr;  ///< rchunk_'s bytes
    std::size_t rcap_ = 0;
    std::size_t rbegin_ = 0;  ///< the first byte not yet handled
    std::size_t rend_ = 0;    ///< the end of what was read
    bool read_paused_ = false;
    bool reading_ = false;
    /// Frames of one read are being handled: what they send is written once, at the end.
    bool in_batch_ = false;
    std::vector<request_job> batch_jobs_;  ///< strand only: this read batch's requests for the pool
    std::chrono::steady_clock::time_point last_read_;   ///< the last byte heard from the peer
    std::chrono::steady_clock::time_point next_ping_;   ///< when a ping is due if nothing was sent
    std::chrono::milliseconds ping_interval_{0};        ///< ours, or less for a peer that needs it
    std::chrono::steady_clock::time_point tick_at_;     ///< when the next tick comes
    std::chrono::steady_clock::time_point ping_window_;
    unsigned pings_in_window_ = 0;
    static constexpr unsigned max_pings_per_second = 20;

    // Fixed once the handshake is done (before calls can start).
    peer_identity peer_;
    route route_;
    std::string jail_;  ///< module requests arriving here are sent to
    std::atomic<bool> attached_{false};  ///< in the node's peer table
    bool was_open_ = false;              ///< strand only: the handshake completed

    outgoing_calls calls_;
    asio::steady_timer deadline_timer_;
    std::atomic<std::uint64_t> next_id_{1};
    /// Something was queued for the peer since the last ping was due (any thread).
    std::atomic<bool> sent_since_ping_{false};

    mutable std::mutex write_mutex_;
    out_queue out_;          ///< frames not yet handed to a write
    out_queue writing_buf_;  ///< strand only: the write in flight
    std::vector<asio::const_buffer> writing_pieces_;  ///< strand only: writing_buf_'s pieces
    std::size_t out_skip_ = 0;  ///< bytes at the front of out_ that finish a frame partly written
    /// out_ plus the write in flight: what the peer has not taken yet.
    std::atomic<std::size_t> queued_bytes_{0};
    bool writing_ = false;       ///< a write is in flight (or posted)
    bool write_closed_ = false;  ///< no frame is queued after the goodbye

    queue_slot queue_slot_;  ///< its requests waiting for the pool (handler_queue's lock)
    friend class handler_queue;
    std::atomic<std::size_t> running_requests_{0};
    std::atomic<std::size_t> running_bytes_{0};  ///< argument copies held by running_requests_

    struct resolved {
        std::string module;
        std::string function;
        std::size_t arity = 0;
        function_ptr fn;
    };
    std::array<resolved, 4> resolved_;  ///< strand only
    std::size_t resolved_next_ = 0;
};

template <class Append>
bool connection::send_with(Append&& append, bool via_strand) {
    bool post = false;
    sent_since_ping_.store(true, std::memory_order_relaxed);
    {
        std::lock_guard lock(write_mutex_);
        if (write_closed_) return false;
        const std::size_t before = out_.size();
        append(out_);
        queued_bytes_.fetch_add(out_.size() - before, std::memory_order_relaxed);
        post = start_writing_locked(via_strand);
    }
    if (post) asio::post(strand_, [self = shared_from_this()] { self->write_queued(); });
    return true;
}

}  // namespace rot::detail
