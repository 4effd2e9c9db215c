#pragma once
// The calls a connection waits on, by id. Ids are consecutive, so a ring of
// slots indexed by id finds them without hashing or allocating; a call that
// is still pending when its slot comes round again moves to an overflow map
// (a slow call among many fast ones), and a crowded ring doubles.

#include <rot/node.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace rot::detail {

/// Owns asynchronous completions; only points at a synchronous caller's
/// waiter, which lives on that caller's stack until it is completed or
/// has taken its call back out of the table.
struct completion_ref {
    completion* ptr = nullptr;
    bool owned = false;

    completion_ref() = default;
    completion_ref(completion* p, bool own) noexcept : ptr(p), owned(own) {}
    completion_ref(completion_ref&& o) noexcept : ptr(std::exchange(o.ptr, nullptr)), owned(o.owned) {}
    completion_ref& operator=(completion_ref&& o) noexcept {
        if (this != &o) {
            reset();
            ptr = std::exchange(o.ptr, nullptr);
            owned = o.owned;
        }
        return *this;
    }
    ~completion_ref() { reset(); }
    void reset() noexcept {
        if (owned) delete ptr;
        ptr = nullptr;
    }
    completion* operator->() const noexcept { return ptr; }
    explicit operator bool() const noexcept { return ptr != nullptr; }
};

struct pending_call {
    completion_ref done;
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    std::chrono::milliseconds timeout{0};
};

class pending_table {
public:
    pending_table() : slots_(initial_slots) {}

    void insert(std::uint64_t id, pending_call call) {
        if (2 * (count_ - overflow_.size() + 1) > slots_.size()) grow();
        slot& s = slots_[id & (slots_.size() - 1)];
        if (s.id) overflow_.emplace(id, std::move(call));
        else s = {id, std::move(call)};
        ++count_;
    }

    /// The call with this id, removed from the table; nullopt if none.
    std::optional<pending_call> take(std::uint64_t id) {
        slot& s = slots_[id & (slots_.size() - 1)];
        if (s.id == id) {
            s.id = 0;
            --count_;
            return std::move(s.call);
        }
        const auto it = overflow_.find(id);
        if (it == overflow_.end()) return std::nullopt;
        pending_call call = std::move(it->second);
        overflow_.erase(it);
        --count_;
        return call;
    }

    /// Removes and hands to f(id, pending_call&&) every call for which keep(call) is false.
    template <class Keep, class F>
    void remove_if_not(Keep&& keep, F&& f) {
        for (auto& s : slots_)
            if (s.id && !keep(s.call)) {
                const std::uint64_t id = std::exchange(s.id, 0);
                --count_;
                pending_call c = std::move(s.call);  // the slot keeps nothing
                f(id, std::move(c));
            }
        for (auto it = overflow_.begin(); it != overflow_.end();) {
            if (keep(it->second)) {
                ++it;
                continue;
            }
            const std::uint64_t id = it->first;
            pending_call c = std::move(it->second);
            it = overflow_.erase(it);
            --count_;
            f(id, std::move(c));
        }
    }

    [[nodiscard]] std::size_t size() const noexcept { return count_; }

private:
    static constexpr std::size_t initial_slots = 64;
    struct slot {
        std::uint64_t id = 0;  ///< 0: free (ids start at 1)
        pending_call call;
    };

    void grow() {
        std::vector<slot> old(slots_.size() * 2);
        old.swap(slots_);
        for (auto& s : old)
            if (s.id) {
                slot& n = slots_[s.id & (slots_.size() - 1)];
                if (n.id) overflow_.emplace(s.id, std::move(s.call));
                else n = std::move(s);
            }
    }

    std::vector<slot> slots_;
    std::unordered_map<std::uint64_t, pending_call> overflow_;
    std::size_t count_ = 0;
};

}  // namespace rot::detail
