#include <rot/api.hpp>
#include <rot/async.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <cstdlib>
#include <future>
#include <iostream>

#include <csignal>
#include <sys/socket.h>

#include "connection.hpp"
#include "futex.hpp"
#include "limits.hpp"
#include "node_impl.hpp"
#include "server.hpp"
#include "supervisor.hpp"

namespace rot {

// --- Logging ---------------------------------------------------------------

namespace detail {
namespace {
log_level level_from_env() {
    const char* v = std::getenv("ROT_LOG");
    const std::string_view s = v ? v : "";
    if (s == "debug") return log_level::debug;
    if (s == "info") return log_level::info;
    if (s == "error") return log_level::error;
    if (s == "none") return log_level::none;
    return log_level::warning;
}
std::atomic<log_level> g_log_level{level_from_env()};
}  // namespace

log_level current_log_level() noexcept { return g_log_level.load(std::memory_order_relaxed); }
void set_log_level(log_level level) noexcept { g_log_level.store(level); }
namespace {
std::mutex g_log_mutex;
log_sink g_log_sink;
}  // namespace

void write_log(log_level level, std::string_view node, std::string_view message) {
    static constexpr std::string_view names[] = {"debug", "info", "warning", "error"};
    std::lock_guard lock(g_log_mutex);
    if (g_log_sink) return g_log_sink(level, node, message);
    fmt::print(stderr, "rot[{}] {}: {}\n", node, names[static_cast<int>(level)], message);
}

void set_log_sink(log_sink sink) {
    std::lock_guard lock(g_log_mutex);
    g_log_sink = std::move(sink);
}

}  // namespace detail

void set_log_level(std::string_view level) {
    using detail::log_level;
    static const std::map<std::string_view, log_level> levels = {{"debug", log_level::debug},
                                                                 {"info", log_level::info},
                                                                 {"warning", log_level::warning},
                                                                 {"error", log_level::error},
                                                                 {"none", log_level::none}};
    const auto it = levels.find(level);
    if (it == levels.end()) throw error(errc::invalid_argument, fmt::format("unknown log level {}", level));
    detail::set_log_level(it->second);
}

namespace detail {

// --- node_impl -------------------------------------------------------------

namespace {
unsigned handler_thread_count(unsigned asked) {
    return asked ? asked : std::max(2u, std::thread::hardware_concurrency());
}

node_options checked(node_options o) {
    check_options(o);
    o.cookie = resolve_cookie(o, std::getenv("ROT_COOKIE"), home_directory());
    return o;
}

// A later run of a node draws a larger number: the wall clock in
// nanoseconds, and within one process always more than the run before (nodes
// started in the same tick, or a clock that stepped back). A peer that sees a
// newer run of a node it knows drops the older run's connections.
std::uint64_t new_incarnation() {
    static std::atomic<std::uint64_t> last{0};
    const auto now = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count());
    std::uint64_t prev = last.load(std::memory_order_relaxed);
    std::uint64_t next = 0;
    do {
        next = std::max(now, prev + 1);
    } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));
    return next;
}

std::atomic<std::uint64_t> g_pipes{0};
}  // namespace

node_impl::node_impl(node_options o)
    : options(checked(std::move(o))),
      incarnation(new_incarnation()),
      started(std::chrono::steady_clock::now()),
      jobs(handlers, handler_thread_count(options.handler_threads)),
      handlers(handler_thread_count(options.handler_threads)),
      work_(asio::make_work_guard(io)) {
    register_builtins(*this);
    for (unsigned i = 0; i < options.io_threads; ++i) io_threads_.emplace_back([this] { io.run(); });
}

node_impl::~node_impl() { join(); }

result<void> node_impl::attach(const std::shared_ptr<connection>& c, const std::string& name, const route& r) {
    auto replaced = peers.attach(name, r, c);
    if (!replaced) return replaced.error();
    const failure restarted{make_error_code(errc::connection_lost),
                            fmt::format("node {} restarted (a newer run connected)", r.node)};
    if (!replaced->connections.empty())
        log(log_level::info, options.name, "node {} restarted: closing {} connections of its previous run", r.node,
            replaced->connections.size());
    for (auto& old : replaced->connections) old->close(to_errc(restarted.code), restarted.message, true);
    for (const auto& gone : replaced->names) peer_down(gone, restarted);
    if (replaced->first) {
        log(log_level::info, options.name, "{} is up: {} at {}", name, r.describe(name), c->info().remote_address);
        peer_up(name);
    } else {
        log(log_level::debug, options.name, "another connection to {} ({})", name, c->info().remote_address);
    }
    return {};
}

void node_impl::detach(const connection& c, const failure& reason) {
    if (peers.detach(c.peer_name(), &c)) peer_down(c.peer_name(), reason);
}

void node_impl::peer_down(const std::string& name, const failure& reason) {
    log(log_level::info, options.name, "{} is down: {}", name, reason.message);
    std::function<void(const std::string&, const failure&)> f;
    {
        std::lock_guard lock(peer_down_mutex_);
        f = peer_down_;
    }
    // On an I/O thread, as documented, whoever closed the connection.
    if (f) asio::post(io, [f = std::move(f), name, reason] { f(name, reason); });
}

void node_impl::peer_up(const std::string& name) {
    std::function<void(const std::string&)> f;
    {
        std::lock_guard lock(peer_down_mutex_);
        f = peer_up_;
    }
    if (f) asio::post(io, [f = std::move(f), name] { f(name); });
}

void node_impl::on_peer_up(std::function<void(const std::string&)> f) {
    std::lock_guard lock(peer_down_mutex_);
    peer_up_ = std::move(f);
}

void node_impl::own_nonce(const nonce& n, const std::string& local, const std::string& remote) {
    std::lock_guard lock(nonces_mutex_);
    nonces_[n] = {local, remote};
}

void node_impl::forget_nonce(const nonce& n) {
    std::lock_guard lock(nonces_mutex_);
    nonces_.erase(n);
}

bool node_impl::reflected(const nonce& theirs, const std::string& local, const std::string& remote) const {
    std::lock_guard lock(nonces_mutex_);
    const auto it = nonces_.find(theirs);
    if (it == nonces_.end()) return false;
    // Ours. Genuine only from the other end of the connection that sent it.
    return !(it->second.local == remote && it->second.remote == local);
}

void node_impl::on_peer_down(std::function<void(const std::string&, const failure&)> f) {
    std::lock_guard lock(peer_down_mutex_);
    peer_down_ = std::move(f);
}

server_info node_impl::start_server(server_options o) {
    if (stopped()) throw error(errc::stopped, "node is stopped");
    if (o.name.empty()) o.name = options.name;
    check_options(o);
    std::lock_guard lock(servers_mutex_);
    if (servers_.count(o.name)) throw error(errc::already_exists, fmt::format("server {} already exists", o.name));
    auto s = std::make_shared<server>(*this, std::move(o));
    s->start();
    servers_.emplace(s->name(), s);
    auto info = s->info();
    log(log_level::info, options.name, "server {} listening on {}:{} ({}{})", info.name, info.ip, info.port,
        info.transport == rot::transport::tls ? "tls" : "tcp", info.jail.empty() ? "" : ", jail " + info.jail);
    return info;
}

bool node_impl::stop_server(std::string_view name) {
    std::shared_ptr<server> s;
    {
        std::lock_guard lock(servers_mutex_);
        const auto it = servers_.find(name);
        if (it == servers_.end()) return false;
        s = std::move(it->second);
        servers_.erase(it);
    }
    s->stop();
    log(log_level::info, options.name, "server {} stopped", name);
    return true;
}

std::vector<server_info> node_impl::servers() const {
    std::lock_guard lock(servers_mutex_);
    std::vector<server_info> out;
    for (const auto& [name, s] : servers_) out.push_back(s->info());
    return out;
}

std::shared_ptr<server> node_impl::find_server(std::string_view name) const {
    std::lock_guard lock(servers_mutex_);
    const auto it = servers_.find(name);
    return it == servers_.end() ? nullptr : it->second;
}

result<connect_options> node_impl::connect_defaults(connect_options o) const {
    if (stopped()) return failure{make_error_code(errc::stopped), "node is stopped"};
    if (o.name.empty()) o.name = options.name;
    if (o.cookie.empty()) o.cookie = options.cookie;
    try {
        check_options(o);
    } catch (const rot::error& e) {
        return e.to_failure();
    }
    return o;
}

void node_impl::track_dial(const std::shared_ptr<connection>& c) {
    {
        std::lock_guard lock(dials_mutex_);
        std::erase_if(dials_, [](const auto& d) { return d.expired(); });
        dials_.push_back(c);
    }
    // Stopping now, the stop may not have seen it: close it ourselves.
    if (stopped()) c->close(errc::stopped, "node stopped", false);
}

result<std::string> node_impl::await_pool(const std::vector<std::shared_ptr<connection>>& conns,
                                          std::vector<std::future<result<std::string>>>& outcomes,
                                          std::chrono::steady_clock::time_point deadline, std::string_view where) {
    for (const auto& c : conns) track_dial(c);
    std::optional<failure> first_failure;
    std::string name;
    for (auto& f : outcomes) {
        // Each dial ends by the deadline; the margin covers a node stopping under us.
        if (f.wait_until(deadline + std::chrono::seconds(1)) != std::future_status::ready) {
            if (!first_failure)
                first_failure = failure{make_error_code(errc::timeout), "no answer before the connect deadline"};
            continue;
        }
        auto r = f.get();
        if (!r) {
            if (!first_failure) first_failure = r.error();
        } else {
            name = *r;
        }
    }
    {
        std::lock_guard lock(dials_mutex_);
        std::erase_if(dials_, [&](const auto& d) {
            const auto c = d.lock();
            return !c || std::find(conns.begin(), conns.end(), c) != conns.end();
        });
    }
    if (first_failure) {
        for (auto& c : conns) c->close(errc::connect_failed, "another connection of the pool failed", true);
        first_failure->message = fmt::format("connect to {}: {}", where, first_failure->message);
        return *first_failure;
    }
    return name;
}

result<std::string> node_impl::connect(std::string_view host, connect_options o, std::size_t n) {
    if (n == 0 || n > max_pool_connections)
        return failure{make_error_code(errc::invalid_argument),
                       fmt::format("connections must be 1 to {}", max_pool_connections)};
    auto checked_options = connect_defaults(std::move(o));
    if (!checked_options) return checked_options.error();
    connection::dial_plan plan;
    plan.host = std::string(host);
    plan.options = std::move(*checked_options);
    plan.cookie = plan.options.cookie;
    plan.deadline = std::chrono::steady_clock::now() + options.connect_timeout;
    const std::string where = fmt::format("{}:{}", host, plan.options.port);
    if (plan.options.transport == rot::transport::tls) {
        try {
            plan.tls = make_tls_context(plan.options.tls, false);
        } catch (const rot::error& e) {
            return failure{e.code(), fmt::format("connect to {}: {}", where, e.message())};
        }
    }

    if (plan.options.supervise) return connect_supervised(plan.host, plan.options, plan.tls, n, where);

    std::error_code ec;
    asio::ip::tcp::resolver resolver(io);
    plan.endpoints = resolver.resolve(plan.host, std::to_string(plan.options.port), ec);
    if (ec)
        return failure{make_error_code(errc::connect_failed),
                       fmt::format("cannot resolve {}: {}", host, ec.message())};
    log(log_level::debug, options.name, "connecting to {} as {} ({} connections)", where, plan.options.name, n);

    std::vector<std::shared_ptr<connection>> conns;
    std::vector<std::future<result<std::string>>> outcomes;
    for (std::size_t i = 0; i < n; ++i) {
        auto c = std::make_shared<connection>(*this, asio::make_strand(io), plan);
        auto done = std::make_shared<std::promise<result<std::string>>>();
        outcomes.push_back(done->get_future());
        c->dial([done](result<std::string> r) { done->set_value(std::move(r)); });
        conns.push_back(std::move(c));
    }
    auto r = await_pool(conns, outcomes, plan.deadline, where);
    if (!r) log(log_level::info, options.name, "{}", r.error().message);
    return r;
}

result<std::string> node_impl::connect_supervised(std::string host, connect_options o, tls_context tls,
                                                  std::size_t n, const std::string& where) {
    connection::dial_plan plan;
    plan.host = std::move(host);
    plan.cookie = o.cookie;
    plan.options = std::move(o);
    plan.tls = std::move(tls);
    auto sup = std::make_shared<supervisor>(*this, plan, n);
    {
        std::lock_guard lock(supervisors_mutex_);
        if (stopped()) return failure{make_error_code(errc::stopped), "node is stopped"};
        supervisors_.push_back(sup);
    }
    auto first = std::make_shared<std::promise<result<std::string>>>();
    auto outcome = first->get_future();
    sup->start([first](result<std::string> r) { first->set_value(std::move(r)); });
    // The first round ends by the connect deadline (each dial has it).
    result<std::string> r =
        outcome.wait_for(options.connect_timeout + std::chrono::seconds(1)) == std::future_status::ready
            ? outcome.get()
            : result<std::string>(failure{make_error_code(errc::timeout), "no answer before the connect deadline"});
    if (r) return r;
    // Not up yet: with the server's name known, it will connect when it can.
    if (!plan.options.server.empty()) {
        log(log_level::info, options.name, "connect to {}: {}; will keep trying", where, r.error().message);
        return plan.options.server;
    }
    sup->stop();
    {
        std::lock_guard lock(supervisors_mutex_);
        std::erase(supervisors_, sup);
    }
    return failure{r.code(), fmt::format("connect to {}: {}", where, r.error().message)};
}

bool node_impl::disconnect(std::string_view peer, const std::string& why) {
    {
        std::lock_guard lock(supervisors_mutex_);
        std::erase_if(supervisors_, [&](const std::shared_ptr<supervisor>& s) {
            if (s->name() != peer) return false;
            s->stop();
            return true;
        });
    }
    const auto conns = peers.of(peer);
    if (!conns.empty()) log(log_level::info, options.name, "disconnecting from {}", peer);
    for (const auto& c : conns) c->close(errc::disconnected, why, true);
    return !conns.empty();
}

result<std::string> node_impl::connect_pipe(node_impl& acceptor, std::string_view server_name, connect_options o) {
    auto checked_options = connect_defaults(std::move(o));
    if (!checked_options) return checked_options.error();
    const auto srv = acceptor.find_server(server_name);
    if (!srv) return failure{make_error_code(errc::not_connected), fmt::format("no server {}", server_name)};
    connection::dial_plan plan;
    plan.host = "pipe";
    plan.options = std::move(*checked_options);
    plan.cookie = plan.options.cookie;
    plan.deadline = std::chrono::steady_clock::now() + options.connect_timeout;
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return failure{make_error_code(errc::connect_failed), "socketpair failed"};
    const std::string name = fmt::format("pipe:{}", g_pipes.fetch_add(1) + 1);
    std::vector<std::shared_ptr<connection>> conns{std::make_shared<connection>(*this, asio::make_strand(io), plan)};
    std::vector<std::future<result<std::string>>> outcomes;
    auto done = std::make_shared<std::promise<result<std::string>>>();
    outcomes.push_back(done->get_future());
    srv->accept_pipe(fds[1], name + "/b", name + "/a");
    conns[0]->start_pipe(fds[0], name + "/a", name + "/b", [done](result<std::string> r) { done->set_value(std::move(r)); });
    return await_pool(conns, outcomes, plan.deadline, name);
}

void node_impl::connection_opened() noexcept {
    std::lock_guard lock(live_mutex_);
    ++live_;
}

void node_impl::connection_finished() noexcept {
    std::lock_guard lock(live_mutex_);
    if (--live_ == 0) live_cv_.notify_all();
}

void node_impl::stop() {
    std::call_once(stop_once_, [this] {
        // No connection attaches after this.
        peers.close();
        stopped_.store(true, std::memory_order_release);
        wake_waiters();
        log(log_level::info, options.name, "stopping");
        std::map<std::string, std::shared_ptr<server>, std::less<>> servers;
        {
            std::lock_guard lock(servers_mutex_);
            servers.swap(servers_);
        }
        {
            std::lock_guard lock(supervisors_mutex_);
            for (auto& s : supervisors_) s->stop();
            supervisors_.clear();
        }
        // Closing drops every request not yet started and fails every call in flight.
        for (auto& [name, s] : servers) s->stop();
        for (auto& c : peers.all()) c->close(errc::stopped, "node stopped", true);
        {
            std::lock_guard lock(dials_mutex_);
            for (auto& d : dials_)
                if (const auto c = d.lock()) c->close(errc::stopped, "node stopped", false);
        }
    });
    // A handler (or an inline handler, or a completion) that stops its own
    // node cannot wait for itself: the waiting is left to the destructor.
    if (on_own_thread()) return;
    const auto deadline = std::chrono::steady_clock::now() + options.shutdown_grace;
    std::unique_lock lock(live_mutex_);
    // Handlers already running get the grace period to finish; then the
    // goodbyes a moment to flush (connections die with their last reference).
    if (!live_cv_.wait_until(lock, deadline, [this] { return handlers_running_.load() == 0; }))
        log(log_level::warning, options.name, "{} handlers still running after the shutdown grace of {} ms",
            handlers_running_.load(), options.shutdown_grace.count());
    live_cv_.wait_for(lock, std::chrono::seconds(2), [this] { return live_ == 0; });
}

void node_impl::wait_stopped() {
    std::unique_lock lock(stop_wait_mutex_);
    stop_wait_cv_.wait(lock, [this] { return woken_ || stopped(); });
}

void node_impl::wake_waiters() {
    {
        std::lock_guard lock(stop_wait_mutex_);
        woken_ = true;
    }
    stop_wait_cv_.notify_all();
}

bool node_impl::on_own_thread() {
    return io.get_executor().running_in_this_thread() || handlers.get_executor().running_in_this_thread();
}

void node_impl::handler_started() noexcept { handlers_running_.fetch_add(1, std::memory_order_relaxed); }

void node_impl::handler_finished() noexcept {
    // The lock only for a stop() that may be waiting for the last one.
    if (handlers_running_.fetch_sub(1, std::memory_order_acq_rel) == 1 && stopped()) {
        std::lock_guard lock(live_mutex_);
        live_cv_.notify_all();
    }
}

void node_impl::join() {
    stop();
    // The I/O threads ran until now, so that what happens after stop() (an
    // async_call's failure, a peer's down event) still completes.
    work_.reset();
    io.stop();
    for (auto& t : io_threads_)
        if (t.joinable()) t.join();
    handlers.stop();
    handlers.join();
}

}  // namespace detail

// --- mfa -------------------------------------------------------------------

mfa mfa::from_term(const term& t) {
    if (!t.is_tuple() || (t.as_tuple().size() != 3 && t.as_tuple().size() != 2))
        throw error(errc::badarg, fmt::format("expected {{Module, Function, Args}} or {{Function, Args}}, got {}", t));
    const auto& xs = t.as_tuple();
    const auto name = [](const term& x, std::string_view what) {
        if (!x.is_atom()) throw error(errc::badarg, fmt::format("{} must be an atom, got {}", what, x));
        return x.atom_name();
    };
    const term& args = xs.back();
    if (!args.is_list()) throw error(errc::badarg, fmt::format("Args must be a list, got {}", args));
    if (xs.size() == 3) return mfa(name(xs[0], "Module"), name(xs[1], "Function"), args.as_list());
    return mfa(name(xs[0], "Function"), args.as_list());
}

// --- node ------------------------------------------------------------------

namespace {
// Waits in the calling thread for one call's reply: the I/O thread publishes
// the reply and wakes the caller with one futex call (no mutex: the caller is
// woken to run, not to queue for a lock the I/O thread still holds).
class sync_waiter final : public detail::completion {
public:
    void complete(std::error_code ec, term value) override {
        ec_ = ec;
        value_ = std::move(value);
        // Once done_ is set the caller may return and this object be gone:
        // the address is taken first, and a futex wake does not touch memory.
        auto& flag = done_;
        flag.store(1, std::memory_order_release);
        detail::wake_one(flag);
    }
    bool wait_until(std::chrono::steady_clock::time_point deadline) {
        while (done_.load(std::memory_order_acquire) == 0)
            if (!detail::wait_while_zero(done_, deadline)) return done_.load(std::memory_order_acquire) != 0;
        return true;
    }
    void wait() {
        (void)wait_until(std::chrono::steady_clock::time_point::max());
    }
    result<term> take() {
        if (!ec_) return std::move(value_);
        return failure{ec_, value_.is_string() ? value_.as_string() : ec_.message()};
    }

private:
    std::atomic<std::uint32_t> done_{0};
    std::error_code ec_;
    term value_;
};

/// A completion that fulfils a promise, for synchronous local calls.
class promised final : public detail::completion {
public:
    std::future<result<term>> future() { return promise_.get_future(); }
    void complete(std::error_code ec, term value) override {
        if (!ec) return promise_.set_value(std::move(value));
        promise_.set_value(failure{ec, value.is_string() ? value.as_string() : ec.message()});
    }

private:
    std::promise<result<term>> promise_;
};

failure not_connected(std::string_view peer) {
    return {make_error_code(errc::not_connected), fmt::format("not connected to {}", peer)};
}
}  // namespace

node::node(node_options options) : impl_(std::make_unique<detail::node_impl>(std::move(options))) {}
node::~node() { stop(); }

const std::string& node::name() const noexcept { return impl_->options.name; }
const node_options& node::options() const noexcept { return impl_->options; }
module_builder node::module(std::string_view name) {
    detail::check_name(name, "a module's name");
    return module_builder(impl_->functions, std::string(name));
}

std::vector<std::string> node::modules() const { return impl_->functions.modules(); }

server_info node::start_server(server_options o) { return impl_->start_server(std::move(o)); }
bool node::stop_server(std::string_view name) { return impl_->stop_server(name); }

std::string node::connect(std::string_view host, connect_options o, std::size_t n) {
    return try_connect(host, std::move(o), n).value();
}
result<std::string> node::try_connect(std::string_view host, connect_options o, std::size_t n) {
    return impl_->connect(host, std::move(o), n);
}

std::vector<std::string> node::connected() const { return impl_->peers.names(); }
std::size_t node::connected(std::string_view peer) const { return impl_->peers.count(peer); }
std::vector<connection_info> node::connections() const {
    std::vector<connection_info> out;
    for (const auto& c : impl_->peers.all()) out.push_back(c->info());
    return out;
}
std::vector<server_info> node::servers() const { return impl_->servers(); }

bool node::disconnect(std::string_view peer) {
    return impl_->disconnect(peer, fmt::format("{} disconnected from {}", name(), peer));
}

term node::call(std::string_view peer, const mfa& request, std::chrono::milliseconds timeout) {
    return try_call(peer, request, timeout).value();
}
term node::call(std::string_view peer, const mfa& request) { return call(peer, request, impl_->options.call_timeout); }

result<term> node::try_call(std::string_view peer, const mfa& request) noexcept {
    return try_call(peer, request, impl_->options.call_timeout);
}

result<term> node::try_call(std::string_view peer, const mfa& request, std::chrono::milliseconds timeout) noexcept {
    try {
        // Waiting here would stop this thread from reading the very reply it waits for.
        if (impl_->io.get_executor().running_in_this_thread())
            return failure{make_error_code(errc::invalid_argument),
                           "a synchronous call cannot be made from the node's own I/O threads "
                           "(an inline handler or an async completion); use rot::async_call"};
        const auto deadline = detail::deadline_after(timeout);
        auto conn = impl_->peers.pick(peer);
        if (!conn && impl_->is_self(peer)) {
            // It ends by its own timer: no deadline here.
            auto local = std::make_unique<promised>();
            auto answer = local->future();
            impl_->call_local(request, timeout, std::move(local));
            return answer.get();
        }
        if (!conn) return impl_->stopped() ? failure{make_error_code(errc::stopped), "node is stopped"} : not_connected(peer);
        // The waiter lives here until completed or taken back out of the table.
        sync_waiter waiter;
        detail::completion_ref done(&waiter, false);
        const auto id = conn->start_call(request, done);
        if (!id) return id.error();
        if (!waiter.wait_until(deadline)) {
            // Whoever removes the call from the pending table completes it.
            if (conn->cancel(*id))
                return failure{make_error_code(errc::timeout),
                               fmt::format("no reply from {} within {} ms", peer, timeout.count())};
            waiter.wait();
        }
        return waiter.take();
    } catch (const rot::error& e) {
        return e.to_failure();
    } catch (const std::exception& e) {
        return failure{make_error_code(errc::invalid_argument), e.what()};
    }
}

std::vector<result<term>> node::multicall(const std::vector<std::string>& peers, const mfa& request) {
    return multicall(peers, request, impl_->options.call_timeout);
}

std::vector<result<term>> node::multicall(const std::vector<std::string>& peers, const mfa& request,
                                          std::chrono::milliseconds timeout) {
    if (impl_->io.get_executor().running_in_this_thread())
        throw error(errc::invalid_argument, "multicall cannot wait on the node's own I/O threads");
    // Every call ends (by its timeout at the latest): wait for the last one.
    struct gather {
        std::mutex mutex;
        std::condition_variable done;
        std::vector<std::optional<result<term>>> results;
        std::size_t left;
    };
    auto g = std::make_shared<gather>();
    g->results.resize(peers.size());
    g->left = peers.size();
    struct one final : detail::completion {
        std::shared_ptr<gather> g;
        std::size_t slot;
        one(std::shared_ptr<gather> g, std::size_t slot) : g(std::move(g)), slot(slot) {}
        void complete(std::error_code ec, term value) override {
            std::lock_guard lock(g->mutex);
            if (ec) g->results[slot].emplace(failure{ec, value.is_string() ? value.as_string() : ec.message()});
            else g->results[slot].emplace(std::move(value));
            if (--g->left == 0) g->done.notify_all();
        }
    };
    for (std::size_t i = 0; i < peers.size(); ++i)
        async_call_erased(peers[i], request, timeout, std::make_unique<one>(g, i));
    std::unique_lock lock(g->mutex);
    g->done.wait(lock, [&] { return g->left == 0; });
    std::vector<result<term>> out;
    out.reserve(peers.size());
    for (auto& r : g->results) out.push_back(std::move(*r));
    return out;
}

void node::cast(std::string_view peer, const mfa& request) { try_cast(peer, request).value(); }

namespace detail {

// A call to this node's own name, with no peer of that name: it runs here,
// on the handler pool, as Erlang's rpc:call(node(), ...) does.
bool node_impl::is_self(std::string_view peer) const { return peer == options.name && !peers.count(peer); }

void node_impl::call_local(const mfa& request, std::chrono::milliseconds timeout, std::unique_ptr<completion> done) {
    struct local_call {
        explicit local_call(asio::io_context& io) : timer(asio::make_strand(io)) {}
        void finish(std::error_code ec, term value) {
            std::unique_ptr<completion> d;
            {
                std::lock_guard lock(mutex);
                d = std::move(done);
            }
            if (d) d->complete(ec, std::move(value));
        }
        std::mutex mutex;
        std::unique_ptr<completion> done;
        asio::steady_timer timer;
    };
    const auto fail = [&](errc code, std::string message) {
        asio::post(io, [d = std::move(done), code, m = std::move(message)] {
            d->complete(make_error_code(code), term::make_string_lossy(m));
        });
    };
    if (stopped()) return fail(errc::stopped, "node is stopped");
    if (request.module.empty()) return fail(errc::bad_request, "{Function, Args} needs a jail; this node has none for itself");
    auto target = functions.resolve("", request.module, request.function, request.args.size());
    if (!target) return fail(to_errc(target.code()), target.error().message);
    auto call = std::make_shared<local_call>(io);
    call->done = std::move(done);
    call->timer.expires_at(deadline_after(timeout));
    call->timer.async_wait([call, timeout, what = fmt::format("{}:{}/{}", request.module, request.function,
                                                              request.args.size())](std::error_code ec) {
        if (!ec)
            call->finish(make_error_code(errc::timeout),
                         term(fmt::format("{} on this node did not return within {} ms", what, timeout.count())));
    });
    asio::post(handlers, [this, call, fn = std::move(target->fn), module = std::string(target->module),
                          function = request.function, args = request.args]() mutable {
        handler_started();
        result<term> out = registry::invoke(*fn, args, module, function);
        handler_finished();
        if (out) call->finish({}, std::move(*out));
        else call->finish(out.code(), term::make_string_lossy(out.error().message));
        asio::post(call->timer.get_executor(), [call] { call->timer.cancel(); });
    });
}

}  // namespace detail

result<void> node::try_cast(std::string_view peer, const mfa& request) noexcept {
    try {
        auto conn = impl_->peers.pick(peer);
        if (!conn && impl_->is_self(peer)) {
            struct ignored final : detail::completion {
                void complete(std::error_code, term) override {}
            };
            impl_->call_local(request, std::chrono::milliseconds::max(), std::make_unique<ignored>());
            return {};
        }
        if (!conn) return impl_->stopped() ? failure{make_error_code(errc::stopped), "node is stopped"} : not_connected(peer);
        return conn->cast(request);
    } catch (const std::exception& e) {
        return failure{make_error_code(errc::invalid_argument), e.what()};
    }
}

void node::async_call_erased(std::string_view peer, const mfa& request, std::chrono::milliseconds timeout,
                             std::unique_ptr<detail::completion> done) {
    // Failures known at once complete later: a handler never runs inside async_call.
    const auto fail_later = [this](std::unique_ptr<detail::completion> d, const failure& f) {
        asio::post(impl_->io, [d = std::move(d), f] { d->complete(f.code, term::make_string_lossy(f.message)); });
    };
    auto conn = impl_->peers.pick(peer);
    if (!conn && impl_->is_self(peer)) return impl_->call_local(request, timeout, std::move(done));
    if (!conn)
        return fail_later(std::move(done), impl_->stopped() ? failure{make_error_code(errc::stopped), "node is stopped"}
                                                            : not_connected(peer));
    detail::completion_ref call(done.release(), true);
    const auto id = conn->start_call(request, call, timeout);
    if (!id) {
        // start_call left `call` with us.
        const failure f = id.error();
        asio::post(impl_->io, [call = std::make_shared<detail::completion_ref>(std::move(call)), f] {
            (*call)->complete(f.code, term::make_string_lossy(f.message));
        });
    }
}

std::string_view version() noexcept { return ROT_VERSION; }
int protocol_version() noexcept { return detail::max_protocol_version; }

void node::stop() { impl_->stop(); }

int node::wait() {
    if (impl_->on_own_thread())
        throw error(errc::invalid_argument, "node::wait() cannot wait on the node's own threads");
    // The signal handler state outlives this call: a completion may still be queued.
    struct signal_state {
        explicit signal_state(asio::io_context& io) : signals(io, SIGINT, SIGTERM) {}
        asio::signal_set signals;
        std::atomic<int> first{0};
    };
    auto st = std::make_shared<signal_state>(impl_->io);
    auto* impl = impl_.get();
    st->signals.async_wait([st, impl](std::error_code ec, int sig) {
        if (ec) return;
        st->first = sig;
        // A second signal while stopping ends the process at once.
        st->signals.async_wait([](std::error_code ec2, int sig2) {
            if (ec2) return;
            std::fflush(nullptr);
            std::_Exit(128 + sig2);
        });
        impl->wake_waiters();
    });
    // A program may block the signals (so that no other thread takes them):
    // this thread takes them while it waits.
    sigset_t ours, before;
    sigemptyset(&ours);
    sigaddset(&ours, SIGINT);
    sigaddset(&ours, SIGTERM);
    ::pthread_sigmask(SIG_UNBLOCK, &ours, &before);
    impl_->wait_stopped();
    const int sig = st->first.load();
    if (sig != 0) detail::log(detail::log_level::info, name(), "{}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    impl_->stop();
    asio::post(impl_->io, [st] {
        std::error_code e;
        st->signals.cancel(e);
    });
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    return sig;
}

result<std::vector<std::string>> node::load_module(const std::filesystem::path& path) {
    return impl_->load_module(path);
}

void node::on_peer_down(std::function<void(const std::string& peer, const failure& reason)> f) {
    impl_->on_peer_down(std::move(f));
}

void node::on_peer_up(std::function<void(const std::string& peer)> f) { impl_->on_peer_up(std::move(f)); }

namespace detail {
asio::any_io_executor io_executor(node& n) { return n.impl().io.get_executor(); }
asio::io_context& io_context(node& n) { return n.impl().io; }
}  // namespace detail

// --- The default node --------------------------------------------------------

namespace {
std::mutex g_default_mutex;
std::unique_ptr<node> g_default;
}  // namespace

node& start(node_options options) {
    std::lock_guard lock(g_default_mutex);
    if (g_default) throw error(errc::already_exists, "the default node is already started");
    g_default = std::make_unique<node>(std::move(options));
    return *g_default;
}

void stop() {
    std::unique_ptr<node> n;
    {
        std::lock_guard lock(g_default_mutex);
        n = std::move(g_default);
    }
}

node& default_node() {
    std::lock_guard lock(g_default_mutex);
    if (!g_default) g_default = std::make_unique<node>();
    return *g_default;
}

}  // namespace rot
