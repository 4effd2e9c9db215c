#include <rot/api.hpp>
#include <rot/async.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <iostream>
#include <random>

#include "connection.hpp"
#include "futex.hpp"
#include "node_impl.hpp"
#include "server.hpp"

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
void write_log(log_level level, std::string_view node, std::string_view message) {
    static constexpr std::string_view names[] = {"debug", "info", "warning", "error"};
    static std::mutex m;
    std::lock_guard lock(m);
    fmt::print(stderr, "rot[{}] {}: {}\n", node, names[static_cast<int>(level)], message);
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
    if (o.name.empty() || o.name.size() > 255) throw error(errc::invalid_argument, "node name must be 1 to 255 bytes");
    if (o.max_frame_bytes < handshake_max_frame || o.max_frame_bytes > max_frame_ceiling)
        throw error(errc::invalid_argument, fmt::format("max_frame_bytes must be between {} and {}",
                                                        handshake_max_frame, max_frame_ceiling));
    if (o.io_threads == 0 || o.io_threads > 256) throw error(errc::invalid_argument, "io_threads must be 1 to 256");
    if (o.handler_threads > 4096) throw error(errc::invalid_argument, "handler_threads must be at most 4096");
    if (o.call_timeout <= 0ms) throw error(errc::invalid_argument, "call_timeout must be positive");
    if (o.connect_timeout <= 0ms) throw error(errc::invalid_argument, "connect_timeout must be positive");
    if (o.max_requests_per_connection == 0)
        throw error(errc::invalid_argument, "max_requests_per_connection must be positive");
    return o;
}

std::uint64_t random_incarnation() {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd() ^ static_cast<std::uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
}
}  // namespace

node_impl::node_impl(node_options o)
    : options(checked(std::move(o))),
      incarnation(random_incarnation()),
      started(std::chrono::steady_clock::now()),
      handlers(handler_thread_count(options.handler_threads)),
      work_(asio::make_work_guard(io)) {
    register_builtins(*this);
    for (unsigned i = 0; i < options.io_threads; ++i) io_threads_.emplace_back([this] { io.run(); });
}

node_impl::~node_impl() { stop(); }

result<void> node_impl::attach(const std::shared_ptr<connection>& c, const std::string& name,
                               const std::string& node, std::uint64_t inc) {
    std::unique_lock lock(peers_mutex_);
    if (stopped()) return failure{make_error_code(errc::stopped), "node is stopping"};
    auto& p = peers_[name];
    if (!p) {
        p = std::make_shared<peer>();
        p->name = name;
        p->node = node;
        p->incarnation = inc;
    } else if (p->incarnation != inc || p->node != node) {
        return failure{make_error_code(errc::name_conflict),
                       fmt::format("name {} is already taken on node {} by node {}; refusing node {}", name,
                                   options.name, p->node, node)};
    }
    p->connections.push_back(c);
    return {};
}

void node_impl::detach(const connection& c, const failure& reason) {
    {
        std::unique_lock lock(peers_mutex_);
        const auto it = peers_.find(c.peer_name());
        if (it == peers_.end()) return;
        auto& conns = it->second->connections;
        const auto removed = std::erase_if(conns, [&](const auto& p) { return p.get() == &c; });
        if (!removed || !conns.empty()) return;
        peers_.erase(it);
    }
    std::function<void(const std::string&, const failure&)> f;
    {
        std::lock_guard lock(peer_down_mutex_);
        f = peer_down_;
    }
    if (f) f(c.peer_name(), reason);
}

void node_impl::on_peer_down(std::function<void(const std::string&, const failure&)> f) {
    std::lock_guard lock(peer_down_mutex_);
    peer_down_ = std::move(f);
}

std::shared_ptr<connection> node_impl::pick(std::string_view name) const {
    std::shared_lock lock(peers_mutex_);
    const auto it = peers_.find(name);
    if (it == peers_.end()) return nullptr;
    auto& p = *it->second;
    // A call made while handling a frame of one of this peer's connections
    // (from a completion handler, say) goes out on that connection: it joins
    // the write that ends the batch instead of waking another connection.
    // Connections already closing are passed over.
    for (const auto& c : p.connections)
        if (c->strand().running_in_this_thread() && !c->closing()) return c;
    const std::size_t n = p.connections.size();
    const std::size_t first = p.next.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i)
        if (const auto& c = p.connections[(first + i) % n]; !c->closing()) return c;
    return nullptr;
}

std::vector<std::string> node_impl::peer_names() const {
    std::shared_lock lock(peers_mutex_);
    std::vector<std::string> out;
    for (const auto& [name, p] : peers_) out.push_back(name);
    return out;
}

std::size_t node_impl::connection_count(std::string_view name) const {
    std::shared_lock lock(peers_mutex_);
    const auto it = peers_.find(name);
    return it == peers_.end() ? 0 : it->second->connections.size();
}

std::vector<std::shared_ptr<connection>> node_impl::all_connections() const {
    std::shared_lock lock(peers_mutex_);
    std::vector<std::shared_ptr<connection>> out;
    for (const auto& [name, p] : peers_) out.insert(out.end(), p->connections.begin(), p->connections.end());
    return out;
}

std::vector<std::shared_ptr<connection>> node_impl::peer_connections(std::string_view name) const {
    std::shared_lock lock(peers_mutex_);
    const auto it = peers_.find(name);
    return it == peers_.end() ? std::vector<std::shared_ptr<connection>>{} : it->second->connections;
}

server_info node_impl::start_server(server_options o) {
    if (stopped()) throw error(errc::stopped, "node is stopped");
    if (o.name.empty()) o.name = options.name;
    if (o.name.size() > 255) throw error(errc::invalid_argument, "server name must be at most 255 bytes");
    for (const auto& m : {o.jail})
        if (m.size() > 255) throw error(errc::invalid_argument, "jail module name must be at most 255 bytes");
    std::lock_guard lock(servers_mutex_);
    if (servers_.count(o.name)) throw error(errc::already_exists, fmt::format("server {} already exists", o.name));
    auto s = std::make_shared<server>(*this, std::move(o));
    s->start();
    servers_.emplace(s->name(), s);
    return s->info();
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
    return true;
}

std::vector<server_info> node_impl::servers() const {
    std::lock_guard lock(servers_mutex_);
    std::vector<server_info> out;
    for (const auto& [name, s] : servers_) out.push_back(s->info());
    return out;
}

result<std::string> node_impl::connect(std::string_view host, connect_options o, std::size_t n) {
    if (stopped()) return failure{make_error_code(errc::stopped), "node is stopped"};
    if (n == 0 || n > 1024) return failure{make_error_code(errc::invalid_argument), "connections must be 1 to 1024"};
    if (o.name.empty()) o.name = options.name;
    if (o.name.size() > 255 || o.jail.size() > 255)
        return failure{make_error_code(errc::invalid_argument), "names must be at most 255 bytes"};
    const auto deadline = std::chrono::steady_clock::now() + options.connect_timeout;

    std::error_code ec;
    asio::ip::tcp::resolver resolver(io);
    const auto endpoints = resolver.resolve(std::string(host), std::to_string(o.port), ec);
    if (ec)
        return failure{make_error_code(errc::connect_failed),
                       fmt::format("cannot resolve {}: {}", host, ec.message())};

    std::vector<std::shared_ptr<connection>> conns;
    std::vector<std::future<result<std::string>>> outcomes;
    for (std::size_t i = 0; i < n; ++i) {
        auto c = std::make_shared<connection>(*this, asio::make_strand(io));
        auto done = std::make_shared<std::promise<result<std::string>>>();
        outcomes.push_back(done->get_future());
        c->dial(endpoints, o.name, o.jail, deadline, [done](result<std::string> r) { done->set_value(std::move(r)); });
        conns.push_back(std::move(c));
    }
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
    if (first_failure) {
        for (auto& c : conns) c->close(errc::connect_failed, "another connection of the pool failed", true);
        first_failure->message = fmt::format("connect to {}:{}: {}", host, o.port, first_failure->message);
        return *first_failure;
    }
    return name;
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
        {
            // Under the peers lock so that no connection attaches after this.
            std::unique_lock lock(peers_mutex_);
            stopped_.store(true, std::memory_order_release);
        }
        std::map<std::string, std::shared_ptr<server>, std::less<>> servers;
        {
            std::lock_guard lock(servers_mutex_);
            servers.swap(servers_);
        }
        for (auto& [name, s] : servers) s->stop();
        for (auto& c : all_connections()) c->close(errc::stopped, "node stopped", true);
        servers.clear();
        {
            // Give goodbyes a moment to flush; connections die with their last reference.
            std::unique_lock lock(live_mutex_);
            live_cv_.wait_for(lock, std::chrono::seconds(2), [this] { return live_ == 0; });
        }
        work_.reset();
        io.stop();
        for (auto& t : io_threads_) t.join();
        handlers.join();
    });
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

failure not_connected(std::string_view peer) {
    return {make_error_code(errc::not_connected), fmt::format("not connected to {}", peer)};
}
}  // namespace

node::node(node_options options) : impl_(std::make_unique<detail::node_impl>(std::move(options))) {}
node::~node() { stop(); }

const std::string& node::name() const noexcept { return impl_->options.name; }
const node_options& node::options() const noexcept { return impl_->options; }
module_builder node::module(std::string_view name) {
    if (name.empty() || name.size() > 255) throw error(errc::invalid_argument, "module names must be 1 to 255 bytes");
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

std::vector<std::string> node::connected() const { return impl_->peer_names(); }
std::size_t node::connected(std::string_view peer) const { return impl_->connection_count(peer); }
std::vector<connection_info> node::connections() const {
    std::vector<connection_info> out;
    for (const auto& c : impl_->all_connections()) out.push_back(c->info());
    return out;
}
std::vector<server_info> node::servers() const { return impl_->servers(); }

bool node::disconnect(std::string_view peer) {
    const auto conns = impl_->peer_connections(peer);
    for (const auto& c : conns) c->close(errc::disconnected, fmt::format("{} disconnected from {}", name(), peer), true);
    return !conns.empty();
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
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        auto conn = impl_->pick(peer);
        if (!conn) return impl_->stopped() ? failure{make_error_code(errc::stopped), "node is stopped"} : not_connected(peer);
        // The waiter lives here until completed or taken back out of the table.
        sync_waiter waiter;
        const auto id = conn->start_call(request, detail::completion_ref(&waiter, false));
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

void node::cast(std::string_view peer, const mfa& request) { try_cast(peer, request).value(); }

result<void> node::try_cast(std::string_view peer, const mfa& request) noexcept {
    try {
        auto conn = impl_->pick(peer);
        if (!conn) return not_connected(peer);
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
    auto conn = impl_->pick(peer);
    if (!conn) return fail_later(std::move(done), not_connected(peer));
    detail::completion_ref call(done.release(), true);
    const auto id = conn->start_call(request, std::move(call), timeout);
    if (!id) {
        // start_call left `call` with us.
        const failure f = id.error();
        asio::post(impl_->io, [call = std::make_shared<detail::completion_ref>(std::move(call)), f] {
            (*call)->complete(f.code, term::make_string_lossy(f.message));
        });
    }
}

void node::stop() { impl_->stop(); }

result<std::vector<std::string>> node::load_module(const std::filesystem::path& path) {
    return impl_->load_module(path);
}

void node::on_peer_down(std::function<void(const std::string& peer, const failure& reason)> f) {
    impl_->on_peer_down(std::move(f));
}

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
