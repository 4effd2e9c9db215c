#pragma once
// A zero/non-zero flag that one thread sets and another waits for, with a
// deadline: std::atomic::wait has none. On Linux this is a bare futex; on
// other systems a short sleep loop stands in.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <ctime>
#endif

namespace rot::detail {

/// Sleeps while `flag` is 0, until woken or `deadline`; false once the deadline passed.
/// May return early (spurious wake-ups): callers re-check the flag.
inline bool wait_while_zero(std::atomic<std::uint32_t>& flag, std::chrono::steady_clock::time_point deadline) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
#ifdef __linux__
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, which is steady_clock's.
    const auto since_epoch = deadline.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    const timespec at{static_cast<time_t>(secs.count()),
                      static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs).count())};
    const long rc = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&flag), FUTEX_WAIT_BITSET_PRIVATE, 0u, &at,
                              nullptr, FUTEX_BITSET_MATCH_ANY);
    return !(rc == -1 && errno == ETIMEDOUT);
#else
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::microseconds(50)));
    return true;
#endif
}

/// Wakes a thread sleeping in wait_while_zero() or std::atomic::wait on `flag`.
inline void wake_one(std::atomic<std::uint32_t>& flag) {
#ifdef __linux__
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&flag), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
#else
    flag.notify_one();
#endif
}

}  // namespace rot::detail
