#pragma once
// What a rot::node is made of. Data flows: node -> peer (pool) -> connection
// -> frame -> socket, and back through the registry to a handler.

#include <rot/node.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "log.hpp"
#include "registry.hpp"

namespace rot::detail {

class connection;
class server;

/// Every connection to one named peer; calls spread over them round-robin.
struct peer {
    std::string name;
    std::string node;  ///< the peer's node name
    std::uint64_t incarnation = 0;
    std::vector<std::shared_ptr<connection>> connections;
    std::atomic<std::size_t> next{0};
};

class node_impl {
    // First, so that they outlive every member holding connections: a
    // connection's destructor reports to them.
    std::mutex live_mutex_;
    std::condition_variable live_cv_;
    std::size_t live_ = 0;

public:
    explicit node_impl(node_options options);
    ~node_impl();

    const node_options options;
    const std::uint64_t incarnation;  ///< random: tells two nodes of one name apart
    const std::chrono::steady_clock::time_point started;

    asio::io_context io;
    asio::thread_pool handlers;
    registry functions;

    [[nodiscard]] bool stopped() const noexcept { return stopped_.load(std::memory_order_acquire); }

    // Peers. attach() refuses a name another node already holds.
    [[nodiscard]] result<void> attach(const std::shared_ptr<connection>& c, const std::string& name,
                                      const std::string& node, std::uint64_t incarnation);
    void detach(const connection& c, const failure& reason);
    [[nodiscard]] std::shared_ptr<connection> pick(std::string_view peer) const;
    [[nodiscard]] std::vector<std::string> peer_names() const;
    [[nodiscard]] std::size_t connection_count(std::string_view peer) const;
    [[nodiscard]] std::vector<std::shared_ptr<connection>> all_connections() const;
    [[nodiscard]] std::vector<std::shared_ptr<connection>> peer_connections(std::string_view peer) const;

    // Servers.
    [[nodiscard]] server_info start_server(server_options o);
    bool stop_server(std::string_view name);
    [[nodiscard]] std::vector<server_info> servers() const;

    [[nodiscard]] result<std::vector<std::string>> load_module(const std::filesystem::path& path);

    /// Called when a peer's last connection closes.
    void on_peer_down(std::function<void(const std::string&, const failure&)> f);

    [[nodiscard]] result<std::string> connect(std::string_view host, connect_options o, std::size_t n);

    /// Live connection objects (open or closing), for stop() to wait on.
    void connection_opened() noexcept;
    void connection_finished() noexcept;

    void stop();

private:
    std::atomic<bool> stopped_{false};
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::vector<std::thread> io_threads_;

    mutable std::shared_mutex peers_mutex_;
    std::map<std::string, std::shared_ptr<peer>, std::less<>> peers_;

    mutable std::mutex servers_mutex_;
    std::map<std::string, std::shared_ptr<server>, std::less<>> servers_;

    std::mutex peer_down_mutex_;
    std::function<void(const std::string&, const failure&)> peer_down_;

    std::once_flag stop_once_;
};

/// Registers the built-in `rot` module.
void register_builtins(node_impl& n);

}  // namespace rot::detail
