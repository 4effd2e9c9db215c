#pragma once
// One TCP connection between two nodes: a small state machine
//   dialing -> handshake -> open -> closing -> closed
// whose socket, read buffer and timers belong to one strand. Calls may be
// started from any thread; replies are matched to them by id.

#include <rot/node.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "frame.hpp"
#include "pending.hpp"
#include "node_impl.hpp"

namespace rot::detail {

class server;

using strand_t = asio::strand<asio::io_context::executor_type>;

class connection : public std::enable_shared_from_this<connection> {
public:
    using dial_done = std::function<void(result<std::string>)>;

    connection(node_impl& node, strand_t strand);
    connection(node_impl& node, asio::ip::tcp::socket socket, std::shared_ptr<server> srv);
    ~connection();

    /// Dialer: connect to one of `endpoints`, say hello as `name`, expect a
    /// welcome before `deadline`. `done` gets the remote server's name.
    void dial(asio::ip::tcp::resolver::results_type endpoints, std::string name, std::string jail,
              std::chrono::steady_clock::time_point deadline, dial_done done);
    /// Acceptor: wait for the hello.
    void accept();

    /// Registers `done` under a new id and sends the request. A failure is
    /// returned (and `done` not kept) if the connection is not open or the
    /// request is too large. With a timeout, the connection fails the call
    /// with errc::timeout when it passes; without, the caller keeps time.
    /// `done` is taken only on success.
    [[nodiscard]] result<std::uint64_t> start_call(const mfa& request, completion_ref&& done,
                                                   std::optional<std::chrono::milliseconds> timeout = {});
    [[nodiscard]] result<void> cast(const mfa& request);
    /// errc::overloaded while more than write_limit() bytes wait for the peer.
    [[nodiscard]] result<void> check_queue() const;
    /// Forgets call `id`; true if it was still pending (the caller then owns its completion).
    bool cancel(std::uint64_t id);

    /// Closes: fails pending calls with (code, message) at once, says goodbye
    /// if asked and the connection was open, then closes the socket. Any thread.
    void close(errc code, std::string message, bool goodbye);

    [[nodiscard]] const strand_t& strand() const noexcept { return strand_; }
    /// True once close() has begun: pick() passes such a connection over.
    [[nodiscard]] bool closing() const noexcept { return closing_flag_.load(std::memory_order_acquire); }
    [[nodiscard]] connection_info info() const;
    /// The peer's name; set once the handshake is done.
    [[nodiscard]] const std::string& peer_name() const noexcept { return peer_name_; }

private:
    enum class state { dialing, handshake, open, closing, closed };

    void start_reading();
    void read_more();
    void on_read(std::error_code ec, std::size_t n);
    void process_buffer();
    void handle_frame(std::span<const std::uint8_t> payload);
    void on_hello(std::span<const std::uint8_t> payload);
    void on_welcome(std::span<const std::uint8_t> payload);
    void on_request(std::span<const std::uint8_t> payload);
    void on_response(std::span<const std::uint8_t> payload);
    void run_request(std::uint64_t id, const function_ptr& fn, std::string_view module,
                     std::string_view function, std::span<const std::uint8_t> args);
    /// A request is answered; `arg_bytes` is what its argument copy held.
    void request_finished(std::size_t arg_bytes);
    /// Back-pressure: reading stops while too many requests run, their argument
    /// copies hold too many bytes, or too many bytes wait to be written (a
    /// peer that does not read its replies).
    [[nodiscard]] bool reading_allowed() const noexcept;
    void resume_reading();
    [[nodiscard]] std::size_t write_limit() const noexcept { return 4 * node_.options.max_frame_bytes; }
    /// registry::resolve, remembering the last few answers: functions are
    /// never removed and a connection's jail is fixed, so hits stay true.
    result<registry::target> resolve(const request_view& r);
    void send_error(std::uint64_t id, errc code, std::string message);
    void established();
    void finish_dial(result<std::string> r);

    void send(const binary& frame);
    /// Appends a frame with append(out) and makes sure it gets written.
    /// Exceptions from append propagate; nothing is then queued.
    template <class Append>
    void send_with(Append&& append);
    void flush_batch();
    /// Under write_mutex_, after frames were appended to out_: starts them on
    /// their way (now, at the end of the batch, or by the strand). True when
    /// the caller must post write_queued() once the lock is released.
    bool start_writing_locked();
    /// Under write_mutex_: writes what it can of out_ without blocking and
    /// removes it; true when out_ is empty.
    bool write_now();
    void write_queued();
    void on_write(std::error_code ec);
    void finish_close();
    void arm_deadline_timer();
    void expire_calls();
    [[nodiscard]] std::size_t frame_limit() const noexcept;

    node_impl& node_;
    strand_t strand_;
    asio::ip::tcp::socket socket_;
    asio::steady_timer timer_;  ///< handshake deadline, then the goodbye flush deadline
    std::shared_ptr<server> server_;  ///< set when accepted
    dial_done dial_done_;

    // Strand only.
    state state_;
    binary rbuf_;
    std::size_t rbegin_ = 0;
    std::size_t rend_ = 0;
    bool read_paused_ = false;
    bool reading_ = false;
    /// Frames of one read are being handled: what they send is written once, at the end.
    bool in_batch_ = false;

    // Fixed once the handshake is done (before calls can start).
    std::string peer_name_;
    std::string peer_node_;
    std::string jail_;  ///< module requests arriving here are sent to
    std::string remote_address_;
    std::size_t peer_max_frame_ = handshake_max_frame;

    // Pending calls, by id. Calls with a timeout keep their deadline here and
    // one timer per connection is armed at the earliest (deadline_armed_).
    using clock = std::chrono::steady_clock;
    mutable std::mutex pending_mutex_;
    pending_table pending_;
    clock::time_point deadline_armed_ = clock::time_point::max();
    asio::steady_timer deadline_timer_;
    bool accepting_calls_ = false;
    bool closing_ = false;
    std::atomic<bool> closing_flag_{false};  ///< closing_, readable without the lock
    std::atomic<bool> attached_{false};      ///< in the node's peer table (peer_name_ is then set)
    failure close_reason_;
    std::atomic<std::uint64_t> next_id_{1};

    // Outgoing frames are encoded straight into out_; one write takes them
    // all (the buffers are swapped, so they are reused, not reallocated).
    std::mutex write_mutex_;
    binary out_;
    binary writing_buf_;  ///< strand only
    /// out_ plus the write in flight: what the peer has not taken yet.
    std::atomic<std::size_t> queued_bytes_{0};
    int fd_ = -1;         ///< the socket, for write_now(); valid while !write_closed_
    bool writing_ = false;
    bool write_closed_ = false;  ///< no frame is queued after the goodbye

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

}  // namespace rot::detail
