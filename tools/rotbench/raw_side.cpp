// The raw baseline: the same workloads over plain length-prefixed TCP with
// standalone Asio on one thread and no RPC layer, written the way a careful
// hand-rolled protocol would be, so that rot's figures have a fair floor.
// With --tls the same code runs over asio::ssl::stream: the server and the
// clients are templates over their stream type.
//
// Frame: 4-byte big-endian length, then that many bytes. A request's first
// byte is its op: 1 = add (two little-endian int64, answered with their sum,
// 8 bytes), 2 = echo (answered with the rest of the request).

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>

#include "bench.hpp"
#include "credentials.hpp"
#include "futex.hpp"  // rot's own waiter, for the io-thread design
#include "report.hpp"

namespace rotbench {

namespace {

using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using tls_stream = asio::ssl::stream<tcp::socket>;

template <class Stream>
constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

// Where the server listens and the clients dial; over TLS, also the name the
// server's certificate must carry.
constexpr const char* server_address = "127.0.0.1";

constexpr std::uint8_t op_add = 1;
constexpr std::uint8_t op_echo = 2;
constexpr std::size_t header_bytes = 4;

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    const std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24),
                               static_cast<std::uint8_t>(v >> 16),
                               static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    out.insert(out.end(), b, b + 4);
}

std::uint32_t get_be32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

void put_le64(std::vector<std::uint8_t>& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get_le64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
    return v;
}

void put_add_request(std::vector<std::uint8_t>& out, std::uint64_t seq) {
    put_be32(out, 17);
    out.push_back(op_add);
    put_le64(out, static_cast<std::uint64_t>(add_left(seq)));
    put_le64(out, static_cast<std::uint64_t>(add_right(seq)));
}

void put_echo_request(std::vector<std::uint8_t>& out, const payload_maker& payload,
                      std::uint64_t seq) {
    put_be32(out, static_cast<std::uint32_t>(1 + payload.size()));
    out.push_back(op_echo);
    payload.append(seq, out);
}

// Bytes read from a socket, handed out one complete frame at a time. The
// buffer grows to hold the largest frame seen and is then reused, so a steady
// load allocates nothing; unread bytes move to the front only when the frame
// being assembled would not fit behind them.
class frame_reader {
  public:
    explicit frame_reader(std::size_t max_frame) : max_frame_(max_frame), buf_(64u << 10) {}

    /// Where the next read may put its bytes.
    asio::mutable_buffer prepare() {
        if (begin_ == end_) begin_ = end_ = 0;
        const std::size_t room = std::max(need_, min_read);
        if (buf_.size() - begin_ < room) {
            std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
            if (buf_.size() < room) buf_.resize(2 * room);
        }
        return asio::buffer(buf_.data() + end_, buf_.size() - end_);
    }
    void commit(std::size_t n) { end_ += n; }

    /// The body of the next complete frame, valid until prepare(); nothing
    /// when more bytes are needed or the stream is bad().
    std::optional<std::span<const std::uint8_t>> next() {
        const std::size_t available = end_ - begin_;
        need_ = header_bytes;
        if (available < header_bytes) return std::nullopt;
        const std::size_t length = get_be32(buf_.data() + begin_);
        if (length > max_frame_) {
            bad_ = true;
            return std::nullopt;
        }
        need_ = header_bytes + length;
        if (available < need_) return std::nullopt;
        const std::span<const std::uint8_t> body(buf_.data() + begin_ + header_bytes, length);
        begin_ += need_;
        need_ = header_bytes;
        return body;
    }
    /// A frame announced more than max_frame bytes.
    [[nodiscard]] bool bad() const noexcept { return bad_; }

  private:
    static constexpr std::size_t min_read = 16u << 10;
    const std::size_t max_frame_;
    std::vector<std::uint8_t> buf_;
    std::size_t begin_ = 0, end_ = 0;
    std::size_t need_ = header_bytes;
    bool bad_ = false;
};

// One write in flight at a time; frames produced meanwhile accumulate in
// `pending` and leave together in the next write. The two buffers swap, so
// their capacity is reused.
struct write_queue {
    std::vector<std::uint8_t> pending;
    std::vector<std::uint8_t> in_flight;
    bool busy = false;

    /// True when a write should start now, with in_flight as its bytes.
    bool begin() {
        if (busy || pending.empty()) return false;
        in_flight.swap(pending);
        pending.clear();
        busy = true;
        return true;
    }
    void end() {
        in_flight.clear();
        busy = false;
    }
};

// ---- TLS -----------------------------------------------------------------------

// TLS 1.2 or newer with OpenSSL's default ciphers, set up as rot sets up its own.
asio::ssl::context tls_context(asio::ssl::context::method method) {
    asio::ssl::context ctx(method);
    if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1)
        throw std::runtime_error("OpenSSL refuses TLS 1.2 as the oldest version");
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);
    return ctx;
}

asio::ssl::context server_tls_context(const tls_files& files) {
    auto ctx = tls_context(asio::ssl::context::tls_server);
    ctx.use_certificate_chain_file(files.certificate);
    ctx.use_private_key_file(files.private_key, asio::ssl::context::pem);
    return ctx;
}

// Clients verify the server's certificate against the run's CA (the host
// check is per connection, in dial()).
asio::ssl::context client_tls_context(const tls_files& files) {
    auto ctx = tls_context(asio::ssl::context::tls_client);
    ctx.load_verify_file(files.ca);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    return ctx;
}

// Closes the socket under a plain or a TLS stream.
template <class Stream>
void close_socket(Stream& stream) {
    std::error_code ignored;
    stream.lowest_layer().close(ignored);
}

// ---- the server ---------------------------------------------------------------

template <class Stream>
class session : public std::enable_shared_from_this<session<Stream>> {
  public:
    session(Stream stream, std::size_t max_frame) : socket_(std::move(stream)), in_(max_frame) {}

    void start() {
        socket_.lowest_layer().set_option(tcp::no_delay(true));
        if constexpr (is_tls<Stream>) {
            socket_.async_handshake(asio::ssl::stream_base::server,
                                    [self = this->shared_from_this()](std::error_code ec) {
                                        if (ec) return self->close();
                                        self->read();
                                    });
        } else {
            read();
        }
    }

  private:
    // A client that sends without reading its replies stops being read from
    // once this much is waiting to go out.
    static constexpr std::size_t backlog_limit = 8u << 20;

    void read() {
        reading_ = true;
        socket_.async_read_some(
            in_.prepare(), [self = this->shared_from_this()](std::error_code ec, std::size_t n) {
                self->on_read(ec, n);
            });
    }

    void on_read(std::error_code ec, std::size_t n) {
        reading_ = false;
        if (ec) return close();
        in_.commit(n);
        while (const auto body = in_.next()) {
            if (!answer(*body)) return close();
        }
        if (in_.bad()) return close();
        write();
        if (out_.pending.size() < backlog_limit) read();
    }

    // Appends the reply to one request; false for a malformed request.
    bool answer(std::span<const std::uint8_t> request) {
        if (request.empty()) return false;
        auto& out = out_.pending;
        if (request[0] == op_add) {
            if (request.size() != 17) return false;
            put_be32(out, 8);
            put_le64(out, get_le64(&request[1]) + get_le64(&request[9]));
            return true;
        }
        if (request[0] == op_echo) {
            put_be32(out, static_cast<std::uint32_t>(request.size() - 1));
            out.insert(out.end(), request.begin() + 1, request.end());
            return true;
        }
        return false;
    }

    void write() {
        if (!out_.begin()) return;
        asio::async_write(socket_, asio::buffer(out_.in_flight),
                          [self = this->shared_from_this()](std::error_code ec, std::size_t) {
                              self->out_.end();
                              if (ec) return self->close();
                              self->write();
                              if (!self->reading_ && self->socket_.lowest_layer().is_open() &&
                                  self->out_.pending.size() < backlog_limit)
                                  self->read();
                          });
    }

    void close() { close_socket(socket_); }

    Stream socket_;
    frame_reader in_;
    write_queue out_;
    bool reading_ = false;
};

// Serves every connection accepted, over TLS when `tls` is given.
void accept_loop(tcp::acceptor& acceptor, std::size_t max_frame, asio::ssl::context* tls) {
    acceptor.async_accept([&acceptor, max_frame, tls](std::error_code ec, tcp::socket socket) {
        if (ec) return;  // the acceptor closed
        if (tls)
            std::make_shared<session<tls_stream>>(tls_stream(std::move(socket), *tls), max_frame)
                ->start();
        else
            std::make_shared<session<tcp::socket>>(std::move(socket), max_frame)->start();
        accept_loop(acceptor, max_frame, tls);
    });
}

// ---- the client's connections ---------------------------------------------------

tcp::socket dial(asio::io_context& io, const tcp::endpoint& server) {
    tcp::socket socket(io);
    socket.connect(server);
    socket.set_option(tcp::no_delay(true));
    return socket;
}

// Over TLS, the handshake fails unless the server's certificate chains to the
// run's CA and names the address dialed, as rot's client checks too.
tls_stream dial(asio::io_context& io, const tcp::endpoint& server, asio::ssl::context& tls) {
    tls_stream stream(io, tls);
    stream.lowest_layer().connect(server);
    stream.lowest_layer().set_option(tcp::no_delay(true));
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream.native_handle()), server_address) != 1)
        throw std::runtime_error("OpenSSL refuses the address to verify");
    stream.handshake(asio::ssl::stream_base::client);
    return stream;
}

// ---- W1: blocking ping-pong on one socket ----------------------------------------

// W1's client waits for each reply in one of three ways (--raw-w1), so that the
// cost of a client design can be told apart from the cost of rot's code:
//   blocking      the caller reads its reply with a blocking read (the floor);
//   io-thread     an I/O thread running the io_context reads it, hands it
//                 over and wakes the waiting caller with rot's futex waiter,
//                 as rot's synchronous call does;
//   caller-reads  the caller reads, while an idle I/O thread runs the io_context
//                 whose reactor also watches the socket (and so wakes up too).
// Over TLS io-thread is refused (raw_client): its I/O thread would read the
// stream while the caller writes to it, and one SSL object allows only one.
template <class Stream>
latency_result run_latency(asio::io_context& io, Stream& socket, const shape& s) {
    latency_result r;
    r.samples_us.reserve(s.calls);
    std::vector<std::uint8_t> request;
    request.reserve(header_bytes + 17);
    std::uint8_t reply[header_bytes + 8];

    // io-thread: the I/O thread reads into `reply`, copies it to `answer` and
    // publishes it (0 waiting, 1 answered, 2 failed with `failed`).
    const bool io_thread_reads = s.raw_w1 == "io-thread";
    std::uint8_t answer[sizeof reply];
    std::atomic<std::uint32_t> replied{0};
    std::error_code failed;
    std::function<void()> read_reply = [&] {
        asio::async_read(socket, asio::buffer(reply), [&](std::error_code ec, std::size_t) {
            if (ec) failed = ec;
            else std::memcpy(answer, reply, sizeof reply);
            replied.store(ec ? 2 : 1, std::memory_order_release);
            rot::detail::wake_one(replied);
            if (!ec) read_reply();
        });
    };
    std::optional<std::jthread> io_thread;
    auto work = asio::make_work_guard(io);
    if (s.raw_w1 != "blocking") {
        if (io_thread_reads) read_reply();
        io_thread.emplace([&io] { io.run(); });
    }
    // Stops the I/O thread on every way out, before the locals it uses go.
    struct stop_io {
        asio::io_context& io;
        std::optional<std::jthread>& thread;
        ~stop_io() {
            io.stop();
            thread.reset();
        }
    } stop{io, io_thread};

    const auto one_call = [&](std::uint64_t seq) {
        request.clear();
        put_add_request(request, seq);
        const auto t0 = clock_type::now();
        replied.store(0, std::memory_order_relaxed);
        asio::write(socket, asio::buffer(request));
        const std::uint8_t* got = reply;
        if (io_thread_reads) {
            while (replied.load(std::memory_order_acquire) == 0)
                rot::detail::wait_while_zero(replied, clock_type::time_point::max());
            if (replied.load(std::memory_order_relaxed) == 2) throw std::system_error(failed, "reading a reply");
            got = answer;
        } else {
            asio::read(socket, asio::buffer(reply));
        }
        const auto t1 = clock_type::now();
        const auto sum = static_cast<std::int64_t>(get_le64(got + header_bytes));
        if (get_be32(got) != 8 || sum != add_left(seq) + add_right(seq)) ++r.errors;
        return std::chrono::duration<double, std::micro>(t1 - t0).count();
    };
    std::uint64_t seq = 0;
    for (std::size_t i = 0; i < s.warmup_calls; ++i) (void)one_call(seq++);
    const auto start = clock_type::now();
    for (std::size_t i = 0; i < s.calls; ++i) r.samples_us.push_back(one_call(seq++));
    r.elapsed = clock_type::now() - start;
    return r;
}

// ---- W2/W3: pipelined echo over a few connections ---------------------------------

// What the pipelines of one run share; they all live on one thread.
struct loop_state {
    const payload_maker payload;
    std::uint64_t next_seq = 0;
    std::uint64_t completed = 0;
    std::uint64_t errors = 0;
    bool stopping = false;
    std::size_t running = 0;  ///< pipelines not yet drained
};

// One connection keeping `depth` echo requests outstanding. The server answers
// in order, so the expected sequence numbers form a FIFO.
template <class Stream>
class pipeline {
  public:
    pipeline(Stream connected, loop_state& loop, std::size_t max_frame)
        : socket_(std::move(connected)), loop_(loop), in_(max_frame) {}

    void start(std::size_t depth, std::function<void()> on_drained) {
        on_drained_ = std::move(on_drained);
        ++loop_.running;
        for (std::size_t i = 0; i < depth; ++i) send_next();
        write();
        read();
    }

    /// Gives up on the replies still missing: they count as errors.
    void abandon() {
        if (finished_) return;
        loop_.errors += expected_.size();
        expected_.clear();
        close_socket(socket_);
        finish();
    }

  private:
    void send_next() {
        const std::uint64_t seq = loop_.next_seq++;
        expected_.push_back(seq);
        put_echo_request(out_.pending, loop_.payload, seq);
    }

    void read() {
        socket_.async_read_some(in_.prepare(),
                                [this](std::error_code ec, std::size_t n) { on_read(ec, n); });
    }

    void on_read(std::error_code ec, std::size_t n) {
        if (ec) return abandon();
        in_.commit(n);
        while (const auto body = in_.next()) {
            if (expected_.empty()) return abandon();
            const std::uint64_t seq = expected_.front();
            expected_.pop_front();
            if (!loop_.payload.matches(seq, *body)) ++loop_.errors;
            ++loop_.completed;
            if (!loop_.stopping) send_next();
        }
        if (in_.bad()) return abandon();
        write();
        if (expected_.empty()) return finish();
        read();
    }

    void write() {
        if (!out_.begin()) return;
        asio::async_write(socket_, asio::buffer(out_.in_flight),
                          [this](std::error_code ec, std::size_t) {
                              out_.end();
                              if (ec) return abandon();
                              write();
                          });
    }

    void finish() {
        if (finished_) return;
        finished_ = true;
        if (--loop_.running == 0 && on_drained_) on_drained_();
    }

    Stream socket_;
    loop_state& loop_;
    frame_reader in_;
    write_queue out_;
    std::deque<std::uint64_t> expected_;
    std::function<void()> on_drained_;
    bool finished_ = false;
};

// `dial` opens one connection (see dial()).
template <class Dial>
window_result run_throughput(asio::io_context& io, Dial dial, const shape& s) {
    using stream_pipeline = pipeline<decltype(dial())>;
    loop_state loop{.payload = payload_maker(s.payload)};
    const std::size_t conns = std::max<std::size_t>(1, std::min(s.connections, s.inflight));
    std::vector<std::unique_ptr<stream_pipeline>> pipelines;
    for (std::size_t i = 0; i < conns; ++i)
        pipelines.push_back(
            std::make_unique<stream_pipeline>(dial(), loop, frame_limit_for(s.payload)));

    window_result r;
    std::uint64_t done_before = 0;
    clock_type::time_point start;
    asio::steady_timer window(io), drain_limit(io);
    // Warm-up, then the timed window, then at most 10 s for the last replies.
    window.expires_after(std::chrono::duration_cast<clock_type::duration>(s.warmup));
    window.async_wait([&](std::error_code) {
        start = clock_type::now();
        done_before = loop.completed;
        r.rss_start_kib = current_rss_kib();
        window.expires_after(std::chrono::duration_cast<clock_type::duration>(s.duration));
        window.async_wait([&](std::error_code) {
            r.calls = loop.completed - done_before;
            r.elapsed = clock_type::now() - start;
            r.rss_end_kib = current_rss_kib();
            loop.stopping = true;
            if (loop.running == 0) return;  // every pipeline already gave up
            drain_limit.expires_after(std::chrono::seconds(10));
            drain_limit.async_wait([&](std::error_code ec) {
                if (ec) return;  // cancelled: everything drained in time
                for (auto& p : pipelines) p->abandon();
            });
        });
    });
    for (std::size_t i = 0; i < conns; ++i) {
        // Spread inflight over the connections, the remainder on the first ones.
        const std::size_t depth = s.inflight / conns + (i < s.inflight % conns ? 1 : 0);
        pipelines[i]->start(depth, [&] { drain_limit.cancel(); });
    }
    io.run();
    r.errors = loop.errors;
    return r;
}

// One workload over connections that `dial` opens.
template <class Dial>
json_line run_client(asio::io_context& io, const role_options& o, Dial dial) {
    const auto& s = o.work;
    if (s.workload == "W1") {
        auto socket = dial();
        auto line = latency_line(o, run_latency(io, socket, s));
        if (s.raw_w1 != "blocking") line.add("client", s.raw_w1);
        return line;
    }
    return throughput_line(o, run_throughput(io, dial, s));
}

}  // namespace

void raw_server(const role_options& o) {
    asio::io_context io(1);
    std::optional<asio::ssl::context> tls;
    if (o.tls()) tls.emplace(server_tls_context(tls_files_in(o.tls_dir)));
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address(server_address), 0));
    accept_loop(acceptor, frame_limit_for(o.max_payload), tls ? &*tls : nullptr);
    std::cout << "port " << acceptor.local_endpoint().port() << std::endl;
    std::thread runner([&io] { io.run(); });
    // Serve until the orchestrator closes our stdin.
    std::cin.ignore(std::numeric_limits<std::streamsize>::max());
    io.stop();
    runner.join();
}

json_line raw_client(const role_options& o) {
    asio::io_context io(1);
    const tcp::endpoint server(asio::ip::make_address(server_address), o.port);
    if (!o.tls()) return run_client(io, o, [&] { return dial(io, server); });
    if (o.work.workload == "W1" && o.work.raw_w1 == "io-thread")
        throw std::runtime_error("raw's W1 client io-thread does not run over TLS");
    auto tls = client_tls_context(tls_files_in(o.tls_dir));
    return run_client(io, o, [&] { return dial(io, server, tls); });
}

}  // namespace rotbench
