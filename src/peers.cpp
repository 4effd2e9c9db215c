#include "peers.hpp"

#include <fmt/format.h>

#include <mutex>

#include "connection.hpp"

namespace rot::detail {

std::string route::describe(std::string_view name) const {
    return dialed ? fmt::format("server {} of node {}, dialed as {}{}", name, node, local_name,
                                jail.empty() ? "" : fmt::format(" jailed to {}", jail))
                  : fmt::format("client {} of node {}, accepted by server {}{}", name, node, local_name,
                                jail.empty() ? "" : fmt::format(" jailed to {}", jail));
}

result<peer_table::replaced> peer_table::attach(const std::string& name, const route& r,
                                                 const std::shared_ptr<connection>& c) {
    replaced out;
    std::unique_lock lock(mutex_);
    if (closed_) return failure{make_error_code(errc::stopped), "node is stopping"};
    if (auto it = pools_.find(name); it != pools_.end() && !it->second->to.same_place(r) &&
                                     !r.later_run_of(it->second->to)) {
        const route& held = it->second->to;
        if (held.later_run_of(r))
            return failure{make_error_code(errc::name_conflict),
                           fmt::format("name {} is held by a newer run of node {}; refusing an older one", name,
                                       r.node)};
        return failure{make_error_code(errc::name_conflict),
                       fmt::format("name {} is already taken: it stands for {}; refusing {}", name,
                                   held.describe(name), r.describe(name))};
    }
    for (auto p = pools_.begin(); p != pools_.end();) {
        if (r.later_run_of(p->second->to)) {
            out.connections.insert(out.connections.end(), p->second->connections.begin(),
                                   p->second->connections.end());
            if (p->first != name) out.names.push_back(p->first);
            p = pools_.erase(p);
        } else {
            ++p;
        }
    }
    auto& p = pools_[name];
    if (!p) {
        p = std::make_unique<pool>();
        p->to = r;
        out.first = true;
    }
    p->connections.push_back(c);
    return out;
}

bool peer_table::detach(std::string_view name, const connection* c) {
    std::unique_lock lock(mutex_);
    const auto it = pools_.find(name);
    if (it == pools_.end()) return false;
    auto& conns = it->second->connections;
    const auto removed = std::erase_if(conns, [&](const auto& p) { return p.get() == c; });
    if (!removed || !conns.empty()) return false;
    pools_.erase(it);
    return true;
}

std::shared_ptr<connection> peer_table::pick(std::string_view name) const {
    std::shared_lock lock(mutex_);
    const auto it = pools_.find(name);
    if (it == pools_.end()) return nullptr;
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

std::vector<std::string> peer_table::names() const {
    std::shared_lock lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [name, p] : pools_) out.push_back(name);
    return out;
}

std::size_t peer_table::count(std::string_view name) const {
    std::shared_lock lock(mutex_);
    const auto it = pools_.find(name);
    return it == pools_.end() ? 0 : it->second->connections.size();
}

std::vector<std::shared_ptr<connection>> peer_table::all() const {
    std::shared_lock lock(mutex_);
    std::vector<std::shared_ptr<connection>> out;
    for (const auto& [name, p] : pools_) out.insert(out.end(), p->connections.begin(), p->connections.end());
    return out;
}

std::vector<std::shared_ptr<connection>> peer_table::of(std::string_view name) const {
    std::shared_lock lock(mutex_);
    const auto it = pools_.find(name);
    return it == pools_.end() ? std::vector<std::shared_ptr<connection>>{} : it->second->connections;
}

void peer_table::close() {
    std::unique_lock lock(mutex_);
    closed_ = true;
}

}  // namespace rot::detail
