// The rot side of the benchmark: a node serving the module `bench`, and a
// node calling it the way an application would (node.call, rot::async_call).

#include <rot/async.hpp>
#include <rot/rot.hpp>

#include <condition_variable>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "bench.hpp"
#include "credentials.hpp"
#include "report.hpp"

namespace rotbench {

namespace {

using clock_type = std::chrono::steady_clock;

// Long enough for any single call on a loaded loopback; short enough that a
// lost reply shows as an error instead of a hung benchmark.
constexpr auto call_timeout = std::chrono::milliseconds(5000);

// Both nodes prove the run's cookie; an empty one would make rot fall back
// to ROT_COOKIE or the user's ~/.rot.cookie, which rotbench never touches.
rot::node_options node_options_for(std::string name, const role_options& o, std::size_t payload) {
    if (o.cookie.empty())
        throw std::runtime_error(
            fmt::format("no cookie: the orchestrator passes one in ${}", cookie_variable));
    return {.name = std::move(name),
            .cookie = o.cookie,
            .io_threads = 1,
            .max_frame_bytes = std::min(frame_limit_for(payload), rot::max_frame_ceiling)};
}

rot::server_options server_options_for(const role_options& o) {
    rot::server_options so{.ip = "127.0.0.1", .port = 0, .inline_handlers = o.inline_handlers};
    if (o.tls()) {
        const auto files = tls_files_in(o.tls_dir);
        so.transport = rot::transport::tls;
        so.tls = {.certificate = files.certificate, .private_key = files.private_key};
    }
    return so;
}

// Over TLS the client verifies the server's certificate against the run's CA,
// and that it names 127.0.0.1 (verify_peer, the default).
rot::connect_options connect_options_for(const role_options& o) {
    rot::connect_options co{.name = "bench_client", .port = o.port};
    if (o.tls()) {
        co.transport = rot::transport::tls;
        co.tls = {.ca = tls_files_in(o.tls_dir).ca};
    }
    return co;
}

std::int64_t server_resident_kib(rot::node& n, const std::string& peer) {
    const auto memory = n.call(peer, {"rot", "memory", {}}, call_timeout);
    const auto* bytes = memory.find(rot::atom("resident_bytes"));
    return bytes ? bytes->as_int() / 1024 : 0;
}

// ---- W1: one call at a time ---------------------------------------------------

latency_result run_latency(rot::node& n, const std::string& peer, const shape& s) {
    latency_result r;
    r.samples_us.reserve(s.calls);
    // Every W1 call is bounded by call_timeout; give up early if they all fail.
    const std::uint64_t give_up = 100;
    const auto one_call = [&](std::uint64_t seq) {
        const auto a = add_left(seq), b = add_right(seq);
        const auto t0 = clock_type::now();
        const auto reply = n.try_call(peer, {"bench", "add", {a, b}}, call_timeout);
        const auto t1 = clock_type::now();
        if (!reply || !reply->is_int() || reply->as_int() != a + b) ++r.errors;
        return std::chrono::duration<double, std::micro>(t1 - t0).count();
    };
    std::uint64_t seq = 0;
    for (std::size_t i = 0; i < s.warmup_calls && r.errors < give_up; ++i) (void)one_call(seq++);
    const auto start = clock_type::now();
    for (std::size_t i = 0; i < s.calls && r.errors < give_up; ++i)
        r.samples_us.push_back(one_call(seq++));
    r.elapsed = clock_type::now() - start;
    return r;
}

// ---- W2/W3: a closed loop of async calls ---------------------------------------

// Keeps `inflight` echo calls outstanding: every completion checks its answer
// and, until stop(), issues the next call. Shared with the callbacks, which
// may outlive the driver's stack frame if a call never completes.
class closed_loop : public std::enable_shared_from_this<closed_loop> {
  public:
    closed_loop(rot::node& n, std::string peer, std::size_t payload)
        : node_(n), peer_(std::move(peer)), payload_(payload) {}

    void start(std::size_t inflight) {
        {
            std::lock_guard lock(mutex_);
            outstanding_ += inflight;
        }
        for (std::size_t i = 0; i < inflight; ++i) issue();
    }

    [[nodiscard]] std::uint64_t completed() const noexcept { return completed_.load(); }
    [[nodiscard]] std::uint64_t errors() const noexcept { return errors_.load(); }

    /// Stops issuing and waits (at most `limit`) for the calls in flight.
    /// Calls still outstanding after that count as errors.
    void stop(std::chrono::milliseconds limit) {
        stopping_.store(true);
        std::unique_lock lock(mutex_);
        if (!drained_.wait_for(lock, limit, [&] { return outstanding_ == 0; }))
            errors_ += outstanding_;
    }

  private:
    void issue() {
        const std::uint64_t seq = next_seq_++;
        rot::async_call(node_, peer_, rot::mfa{"bench", "echo", {rot::term(payload_.make(seq))}},
                        call_timeout,
                        [self = shared_from_this(), seq](std::error_code ec, rot::term reply) {
                            self->on_reply(seq, ec, reply);
                        });
    }

    void on_reply(std::uint64_t seq, std::error_code ec, const rot::term& reply) {
        const bool right = !ec && reply.is_binary() && payload_.matches(seq, reply.as_binary());
        if (!right) ++errors_;
        ++completed_;
        // A failed call ends its chain: retrying would spin on a dead peer.
        if (right && !stopping_.load()) return issue();
        std::lock_guard lock(mutex_);
        if (--outstanding_ == 0) drained_.notify_all();
    }

    rot::node& node_;
    const std::string peer_;
    const payload_maker payload_;
    std::atomic<std::uint64_t> next_seq_{0};
    std::atomic<std::uint64_t> completed_{0};
    std::atomic<std::uint64_t> errors_{0};
    std::atomic<bool> stopping_{false};
    std::mutex mutex_;
    std::condition_variable drained_;
    std::size_t outstanding_ = 0;
};

json_line run_throughput(rot::node& n, const std::string& peer, const role_options& o) {
    const auto& s = o.work;
    auto loop = std::make_shared<closed_loop>(n, peer, s.payload);
    loop->start(s.inflight);
    std::this_thread::sleep_for(s.warmup);

    window_result r;
    const std::int64_t server_start_kib = server_resident_kib(n, peer);
    r.rss_start_kib = current_rss_kib();
    const auto start = clock_type::now();
    const auto done_before = loop->completed();
    std::this_thread::sleep_until(start +
                                  std::chrono::duration_cast<clock_type::duration>(s.duration));
    const auto done_after = loop->completed();
    r.elapsed = clock_type::now() - start;
    r.rss_end_kib = current_rss_kib();
    const std::int64_t server_end_kib = server_resident_kib(n, peer);

    loop->stop(2 * call_timeout);
    r.calls = done_after - done_before;
    r.errors = loop->errors();
    auto line = throughput_line(o, r);
    line.add("server_rss_growth_pct", growth_pct(server_start_kib, server_end_kib), 2);
    return line;
}

// ---- M1: what an idle connection costs -----------------------------------------

json_line run_idle_memory(rot::node& n, const std::string& peer, const role_options& o) {
    const auto& s = o.work;
    std::uint64_t errors = 0;
    const std::int64_t server_before = server_resident_kib(n, peer);
    const std::int64_t client_before = current_rss_kib();
    // The same client name joins the existing pool: one peer, many connections.
    n.connect("127.0.0.1", connect_options_for(o), s.connections);
    const std::int64_t client_after = current_rss_kib();
    const std::int64_t server_after = server_resident_kib(n, peer);
    if (n.connected(peer) != s.connections + 1) ++errors;
    const auto memory = n.call(peer, {"rot", "memory", {}}, call_timeout);
    const auto* conns = memory.find(rot::atom("connections"));
    if (!conns || conns->as_int() != static_cast<std::int64_t>(s.connections + 1)) ++errors;

    const auto per_conn = [&](std::int64_t before, std::int64_t after) {
        return static_cast<double>(after - before) / static_cast<double>(s.connections);
    };
    auto line = start_line(o);
    line.add("connections", s.connections)
        .add("client_kib_per_conn", per_conn(client_before, client_after), 2)
        .add("server_kib_per_conn", per_conn(server_before, server_after), 2)
        .add("client_rss_before_kib", client_before)
        .add("client_rss_after_kib", client_after)
        .add("server_rss_before_kib", server_before)
        .add("server_rss_after_kib", server_after)
        .add("errors", errors);
    return line;
}

}  // namespace

void rot_server(const role_options& o) {
    rot::node n(node_options_for("bench_server", o, o.max_payload));
    n.module("bench")
        .def("add", [](std::int64_t a, std::int64_t b) { return a + b; })
        .def("echo", [](rot::binary b) { return b; });
    const auto srv = n.start_server(server_options_for(o));
    std::cout << "port " << srv.port << std::endl;
    // Serve until the orchestrator closes our stdin.
    std::cin.ignore(std::numeric_limits<std::streamsize>::max());
    n.stop();
}

json_line rot_client(const role_options& o) {
    const auto& s = o.work;
    rot::node n(node_options_for("bench_client", o, s.payload));
    const std::size_t pool = s.workload == "M1" ? 1 : s.connections;
    const std::string peer = n.connect("127.0.0.1", connect_options_for(o), pool);
    if (s.workload == "W1") return latency_line(o, run_latency(n, peer, s));
    if (s.workload == "M1") return run_idle_memory(n, peer, o);
    return run_throughput(n, peer, o);
}

}  // namespace rotbench
