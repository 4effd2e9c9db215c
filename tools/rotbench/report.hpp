#pragma once
// Measuring and reporting: JSON lines, percentiles, RSS, CPU pinning.

#include <concepts>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench.hpp"

namespace rotbench {

/// A flat JSON object written one field at a time, in order:
/// {"system":"rot","workload":"W1","calls_per_s":12000}.
class json_line {
  public:
    json_line& add(std::string_view key, std::string_view value);
    json_line& add(std::string_view key, const char* value) {
        return add(key, std::string_view(value));
    }
    template <std::integral I>
    json_line& add(std::string_view key, I value) {
        return add_number(key, std::to_string(value));
    }
    json_line& add(std::string_view key, double value, int decimals);
    [[nodiscard]] std::string str() const { return "{" + body_ + "}"; }

  private:
    json_line& add_number(std::string_view key, const std::string& text);
    void key(std::string_view k);
    std::string body_;
};

/// Reads back a line json_line wrote: field -> value text (strings unquoted).
/// Nothing when the line is not a flat JSON object.
[[nodiscard]] std::optional<std::map<std::string, std::string>> parse_flat_json(
    std::string_view line);

/// The q-quantile (0..1) of sorted samples, by nearest rank.
[[nodiscard]] double percentile(const std::vector<double>& sorted, double q);

/// Resident memory now (from /proc/self/statm) and at its peak (getrusage), in KiB.
[[nodiscard]] std::int64_t current_rss_kib();
[[nodiscard]] std::int64_t peak_rss_kib();

/// Pins the calling process (every thread it starts later) to one CPU.
/// Returns false, with a message on stderr, when the kernel refuses.
bool pin_to_cpu(int cpu);

/// The start of every client line: system, workload and transport come first.
[[nodiscard]] json_line start_line(const role_options& o);
/// W1's figures: calls_per_s, p50_us, p99_us and friends, errors.
[[nodiscard]] json_line latency_line(const role_options& o, latency_result r);
/// W2/W3's figures: calls_per_s, mb_per_s (2^20 bytes of payload echoed),
/// rss_growth_pct over the window, errors.
[[nodiscard]] json_line throughput_line(const role_options& o, const window_result& r);

/// (after - before) / before in percent; 0 when before is not positive.
[[nodiscard]] double growth_pct(std::int64_t before, std::int64_t after);

}  // namespace rotbench
