#pragma once
// The names a node calls its peers by. A name stands for one route: the same
// authenticated node and incarnation, reached the same way (the same
// direction, the same server or client name on our side, the same jail). Only
// connections of that route join its pool, so the answer to a call never
// depends on which connection of the pool carries it.

#include <rot/error.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rot::detail {

class connection;

/// Where a name leads. Every field is what the handshake proved or what our
/// own configuration says, never what the peer merely claimed.
struct route {
    std::string node;               ///< the peer's node name
    std::uint64_t incarnation = 0;  ///< which run of it (newer runs have larger numbers)
    std::uint64_t key_id = 0;       ///< the secret it proved
    bool dialed = false;            ///< we dialed its server (else it dialed ours)
    std::string local_name;         ///< our server that accepted it, or the name we dialed with
    std::string jail;               ///< applied to requests arriving over it

    [[nodiscard]] bool same_place(const route& o) const noexcept {
        return node == o.node && incarnation == o.incarnation && key_id == o.key_id && dialed == o.dialed &&
               local_name == o.local_name && jail == o.jail;
    }
    /// The same route from a later run of the node: a restarted peer
    /// reconnecting as it did before.
    [[nodiscard]] bool later_run_of(const route& o) const noexcept {
        return incarnation > o.incarnation && node == o.node && key_id == o.key_id && dialed == o.dialed &&
               local_name == o.local_name && jail == o.jail;
    }
    /// "node1 (server srv dialed as cl)": for messages.
    [[nodiscard]] std::string describe(std::string_view name) const;
};

class peer_table {
public:
    /// What attach() did besides: the pools of earlier runs it took out.
    struct replaced {
        std::vector<std::shared_ptr<connection>> connections;  ///< for the caller to close
        std::vector<std::string> names;  ///< names that no longer lead anywhere
        bool first = false;              ///< the name had no connection before (it is up)
    };
    /// Adds `c` to the pool of `name`. Refuses (name_conflict) a name that
    /// stands for another route, whoever claims it: a name is never taken
    /// over. Pools of the same route from earlier runs of the peer (it
    /// restarted: they lead nowhere, and may be half-open) are taken out and
    /// returned, whatever their names.
    [[nodiscard]] result<replaced> attach(const std::string& name, const route& r,
                                          const std::shared_ptr<connection>& c);
    /// Takes `c` out of `name`'s pool; true if that was the pool's last connection.
    bool detach(std::string_view name, const connection* c);
    /// A connection to call `name` over (round-robin), preferring one whose
    /// strand runs this thread; null if none is open.
    [[nodiscard]] std::shared_ptr<connection> pick(std::string_view name) const;
    [[nodiscard]] std::vector<std::string> names() const;
    [[nodiscard]] std::size_t count(std::string_view name) const;
    [[nodiscard]] std::vector<std::shared_ptr<connection>> all() const;
    [[nodiscard]] std::vector<std::shared_ptr<connection>> of(std::string_view name) const;
    /// No attach succeeds after this.
    void close();

private:
    struct pool {
        route to;
        std::vector<std::shared_ptr<connection>> connections;
        std::atomic<std::size_t> next{0};
    };
    mutable std::shared_mutex mutex_;
    std::map<std::string, std::unique_ptr<pool>, std::less<>> pools_;
    bool closed_ = false;
};

}  // namespace rot::detail
