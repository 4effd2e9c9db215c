#pragma once
// What the processes of rotbench share: the shape of a workload, the roles a
// process can play, the payloads every answer is checked against, and the
// raw results that report.hpp turns into JSON lines.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace rotbench {

using seconds_d = std::chrono::duration<double>;

/// One workload with every knob resolved. The orchestrator fills it from the
/// defaults and the flags and passes it to the client on its command line, so
/// the client never guesses a default.
struct shape {
    std::string workload;          ///< "W1", "W2", "W3" or "M1"
    std::size_t calls = 0;         ///< W1: timed calls
    std::size_t warmup_calls = 0;  ///< W1: calls before timing
    seconds_d warmup{0.0};         ///< W2/W3: load before the timed window
    seconds_d duration{0.0};       ///< W2/W3: the timed window
    std::size_t connections = 1;   ///< W2/W3: pool size; M1: idle connections
    std::size_t inflight = 1;      ///< W2/W3: calls outstanding at all times
    std::size_t payload = 0;       ///< W2/W3: bytes echoed per call
    std::string raw_w1 = "blocking";  ///< W1: how the raw client waits (see raw_side.cpp)
};

/// Everything a server or client role needs besides its shape.
struct role_options {
    std::string system;           ///< "raw", "rot" (inline handlers) or "rot-pool"
    std::uint16_t port = 0;       ///< client: where the server listens
    bool inline_handlers = true;  ///< rot server: run handlers on the I/O thread
    std::size_t max_payload = 0;  ///< server: largest payload it must accept
    shape work;                   ///< client: what to run
    std::string cookie;           ///< rot: the run's cookie (credentials.hpp)
    std::string tls_dir;          ///< over TLS: the run's certificates; "": plain TCP

    [[nodiscard]] bool tls() const noexcept { return !tls_dir.empty(); }
    /// As the JSON lines report it.
    [[nodiscard]] const char* transport() const noexcept { return tls() ? "tls" : "tcp"; }
};

class json_line;

// The roles. Servers print "port N" once listening, serve until stdin closes,
// then return (the caller prints peak RSS). Clients run one workload and
// return its figures (the caller adds rss_kib last). Both throw on failure.
void rot_server(const role_options& o);
void raw_server(const role_options& o);
[[nodiscard]] json_line rot_client(const role_options& o);
[[nodiscard]] json_line raw_client(const role_options& o);

/// Largest frame either side must accept for a payload: the payload plus room
/// for the request's envelope, never below rot's 4 MiB default.
[[nodiscard]] std::size_t frame_limit_for(std::size_t payload);

/// The bytes call number `seq` echoes: a fixed pattern whose first 8 bytes
/// are replaced by seq, so that a reply handed to the wrong call is caught,
/// not just a corrupted one.
class payload_maker {
  public:
    explicit payload_maker(std::size_t size);
    [[nodiscard]] std::vector<std::uint8_t> make(std::uint64_t seq) const;
    /// Appends the payload of `seq` to `out`.
    void append(std::uint64_t seq, std::vector<std::uint8_t>& out) const;
    [[nodiscard]] bool matches(std::uint64_t seq, std::span<const std::uint8_t> bytes) const;
    [[nodiscard]] std::size_t size() const noexcept { return pattern_.size(); }

  private:
    std::vector<std::uint8_t> pattern_;
};

/// The arguments of W1's call number `seq`; their sum is the expected answer.
/// Large, varied values so that a wrong or stale answer cannot pass.
[[nodiscard]] inline std::int64_t add_left(std::uint64_t seq) {
    return static_cast<std::int64_t>(seq * 2654435761u % 1000000007u) - 500000000;
}
[[nodiscard]] inline std::int64_t add_right(std::uint64_t seq) {
    return static_cast<std::int64_t>(seq) * 3 + 1;
}

/// W1: one latency sample per timed call.
struct latency_result {
    std::vector<double> samples_us;
    seconds_d elapsed{0.0};
    std::uint64_t errors = 0;
};

/// W2/W3: completions counted inside the timed window of a closed loop.
struct window_result {
    std::uint64_t calls = 0;  ///< completed inside the window
    seconds_d elapsed{0.0};
    std::uint64_t errors = 0;        ///< wrong answers and failed calls, window or not
    std::int64_t rss_start_kib = 0;  ///< client RSS when the window opened
    std::int64_t rss_end_kib = 0;    ///< ... and when it closed
};

}  // namespace rotbench
