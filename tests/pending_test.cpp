// The pending-call table: a ring by id, an overflow for calls that outlive a lap.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "futex.hpp"
#include "pending.hpp"

using namespace rot;
using namespace rot::detail;

namespace {
struct counted final : completion {
    int* completed;
    int* destroyed;
    counted(int* c, int* d) : completed(c), destroyed(d) {}
    ~counted() override { ++*destroyed; }
    void complete(std::error_code, term) override { ++*completed; }
};
}  // namespace

TEST_CASE("calls are found by id, once") {
    pending_table t;
    int completed = 0, destroyed = 0;
    for (std::uint64_t id = 1; id <= 10; ++id) t.insert(id, {{new counted(&completed, &destroyed), true}});
    CHECK(t.size() == 10);
    auto p = t.take(3);
    REQUIRE(p);
    p->done->complete({}, term());
    CHECK_FALSE(t.take(3));
    CHECK_FALSE(t.take(11));
    p.reset();
    CHECK(destroyed == 1);  // owned completions die with their entry
    CHECK(t.size() == 9);
}

TEST_CASE("a slow call among many fast ones survives laps of the ring") {
    pending_table t;
    int completed = 0, destroyed = 0;
    t.insert(1, {{new counted(&completed, &destroyed), true}});  // the slow one
    for (std::uint64_t id = 2; id < 100000; ++id) {
        t.insert(id, {{new counted(&completed, &destroyed), true}});
        REQUIRE(t.take(id));
    }
    CHECK(t.size() == 1);
    REQUIRE(t.take(1));
    CHECK(destroyed == 99999);
}

TEST_CASE("many calls at once grow the ring; none is lost") {
    pending_table t;
    int completed = 0, destroyed = 0;
    for (std::uint64_t id = 1; id <= 5000; ++id) t.insert(id, {{new counted(&completed, &destroyed), true}});
    CHECK(t.size() == 5000);
    for (std::uint64_t id = 5000; id >= 1; id -= 2) REQUIRE(t.take(id));
    std::vector<std::uint64_t> left;
    t.remove_if_not([](const pending_call&) { return false; },
                    [&](std::uint64_t id, pending_call&& c) {
                        c.done->complete({}, term());
                        left.push_back(id);
                    });
    CHECK(left.size() == 2500);
    // The ones left are the odd ids, each once.
    std::sort(left.begin(), left.end());
    CHECK(std::adjacent_find(left.begin(), left.end()) == left.end());
    CHECK(std::all_of(left.begin(), left.end(), [](std::uint64_t id) { return id % 2 == 1; }));
    CHECK(t.size() == 0);
    CHECK(completed == 2500);
    CHECK(destroyed == 5000);
}

TEST_CASE("a waiter that is not owned is never deleted") {
    pending_table t;
    int completed = 0, destroyed = 0;
    {
        counted on_stack(&completed, &destroyed);
        t.insert(7, {{&on_stack, false}});
        auto p = t.take(7);
        REQUIRE(p);
    }
    CHECK(destroyed == 1);  // only by its own scope
}

// --- The futex a synchronous caller sleeps on -----------------------------------

TEST_CASE("a caller's futex wait ends when woken, and at its deadline when not") {
    using namespace std::chrono;
    std::atomic<std::uint32_t> flag{0};
    // Not woken: false once the deadline has passed, and not before it.
    const auto start = steady_clock::now();
    const auto deadline = start + 20ms;
    while (wait_while_zero(flag, deadline)) {
    }
    CHECK(steady_clock::now() >= deadline);
    CHECK_FALSE(wait_while_zero(flag, start));  // a deadline already gone
    CHECK(flag.load() == 0);

    // Woken by another thread, with no deadline worth the name.
    std::thread setter([&] {
        flag.store(1, std::memory_order_release);
        wake_one(flag);
    });
    while (flag.load(std::memory_order_acquire) == 0)
        REQUIRE(wait_while_zero(flag, steady_clock::time_point::max()));
    setter.join();
    CHECK(flag.load() == 1);
    // A set flag does not sleep at all.
    CHECK(wait_while_zero(flag, steady_clock::now() + 10s));
}
