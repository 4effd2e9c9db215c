#pragma once
// A supervised pool (the seed's connect_link): it keeps `connections`
// connections to one server, dialing again those it loses, with backoff
// (1 s, x1.6, +/-20 % jitter, at most 120 s, back to 1 s after a successful
// handshake). Each connection of the pool has its own slot, backoff and
// timer, so that the pools of many clients do not reconnect in lock-step.
// Its state belongs to one strand.

#include <rot/options.hpp>

#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "connection.hpp"

namespace rot::detail {

class supervisor : public std::enable_shared_from_this<supervisor> {
public:
    /// `plan` is the dial plan of every connection (endpoints left empty: each
    /// dial resolves the host again).
    supervisor(node_impl& node, connection::dial_plan plan, std::size_t connections);

    /// Dials every connection; `first` gets the outcome of this first round:
    /// the server's name when one connection is up, else the first failure.
    void start(std::function<void(result<std::string>)> first);
    /// Dials no more (the connections themselves are closed by whoever stops us).
    void stop();
    /// The server's name, once a handshake told it (or connect_options::server).
    [[nodiscard]] std::string name() const;
    /// The delay before retry `attempt` (0, 1, ...): exposed for tests.
    [[nodiscard]] static std::chrono::milliseconds backoff(unsigned attempt, double jitter);

private:
    struct slot {
        explicit slot(const strand_t& s) : timer(s) {}
        asio::steady_timer timer;
        unsigned failures = 0;  ///< since the last successful handshake
        bool up = false;
        bool first_dial = true;  ///< its first dial counts for the first round
    };
    void dial(std::size_t i);
    void dialed(std::size_t i, result<std::string> r);
    void lost(std::size_t i, const failure& why);
    void retry_later(std::size_t i);

    node_impl& node_;
    strand_t strand_;
    connection::dial_plan plan_;
    std::vector<std::unique_ptr<slot>> slots_;
    std::mt19937 random_;
    std::function<void(result<std::string>)> first_;  ///< until the first round ends
    std::size_t first_round_left_ = 0;
    std::optional<failure> first_failure_;
    bool stopped_ = false;  ///< strand only

    mutable std::mutex name_mutex_;
    std::string name_;
};

}  // namespace rot::detail
