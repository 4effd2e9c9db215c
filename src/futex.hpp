#pragma once
// A zero/non-zero flag that one thread sets and another waits for, with a
// deadline (std::atomic::wait has none): a bare Linux futex.

#ifndef __linux__
#error "rot waits for replies with a Linux futex; porting needs a waiter here"
#endif

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <limits>
#include <thread>

namespace rot::detail {

/// Sleeps while `flag` is 0, until woken or `deadline`; false once the deadline passed.
/// May return early (spurious wake-ups): callers re-check the flag.
inline bool wait_while_zero(std::atomic<std::uint32_t>& flag, std::chrono::steady_clock::time_point deadline) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, which is steady_clock's.
    const auto since_epoch = deadline.time_since_epoch();
    // Clamped, should time_t be narrower than the clock (the kernel clamps too).
    const auto secs = std::min(std::chrono::duration_cast<std::chrono::seconds>(since_epoch),
                               std::chrono::seconds(std::numeric_limits<time_t>::max() / 2));
    const timespec at{static_cast<time_t>(secs.count()),
                      static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs).count())};
    const long rc = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&flag), FUTEX_WAIT_BITSET_PRIVATE, 0u, &at,
                              nullptr, FUTEX_BITSET_MATCH_ANY);
    if (rc == 0 || errno == EAGAIN || errno == EINTR) return true;
    if (errno == ETIMEDOUT) return false;
    // No futex (a seccomp filter, say): wait in short sleeps rather than spin.
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(1)));
    return true;
}

/// Wakes a thread sleeping in wait_while_zero() on `flag`. `flag` may be gone
/// by then (its waiter saw it set and returned): a futex wake does not touch memory.
inline void wake_one(std::atomic<std::uint32_t>& flag) {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&flag), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace rot::detail
