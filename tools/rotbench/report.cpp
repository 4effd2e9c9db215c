// Measuring and reporting: JSON lines, percentiles, RSS, CPU pinning.

#include "report.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>

#include <fmt/format.h>

namespace rotbench {

// ---- JSON -------------------------------------------------------------------

void json_line::key(std::string_view k) {
    if (!body_.empty()) body_ += ',';
    body_ += '"';
    body_ += k;
    body_ += "\":";
}

json_line& json_line::add(std::string_view k, std::string_view value) {
    key(k);
    body_ += '"';
    for (const char c : value) {
        if (c == '"' || c == '\\') body_ += '\\';
        body_ += c;
    }
    body_ += '"';
    return *this;
}

json_line& json_line::add_number(std::string_view k, const std::string& text) {
    key(k);
    body_ += text;
    return *this;
}

json_line& json_line::add(std::string_view k, double value, int decimals) {
    // JSON has no NaN or infinity; a figure that could not be measured is 0.
    if (!std::isfinite(value)) value = 0;
    return add_number(k, fmt::format("{:.{}f}", value, decimals));
}

std::optional<std::map<std::string, std::string>> parse_flat_json(std::string_view line) {
    std::map<std::string, std::string> fields;
    std::size_t i = 0;
    const auto skip_space = [&] {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    };
    const auto quoted = [&]() -> std::optional<std::string> {
        if (i >= line.size() || line[i] != '"') return std::nullopt;
        std::string out;
        for (++i; i < line.size() && line[i] != '"'; ++i) {
            if (line[i] == '\\' && i + 1 < line.size()) ++i;
            out += line[i];
        }
        if (i >= line.size()) return std::nullopt;
        ++i;
        return out;
    };
    skip_space();
    if (i >= line.size() || line[i++] != '{') return std::nullopt;
    for (;;) {
        skip_space();
        if (i < line.size() && line[i] == '}') break;
        auto k = quoted();
        skip_space();
        if (!k || i >= line.size() || line[i++] != ':') return std::nullopt;
        skip_space();
        std::optional<std::string> v;
        if (i < line.size() && line[i] == '"') {
            v = quoted();
        } else {
            const auto end = line.find_first_of(",}", i);
            if (end == std::string_view::npos) return std::nullopt;
            v = std::string(line.substr(i, end - i));
            while (!v->empty() && v->back() == ' ') v->pop_back();
            i = end;
        }
        if (!v) return std::nullopt;
        fields[*k] = *v;
        skip_space();
        if (i < line.size() && line[i] == ',') {
            ++i;
            continue;
        }
        if (i < line.size() && line[i] == '}') break;
        return std::nullopt;
    }
    return fields;
}

// ---- figures ----------------------------------------------------------------

double percentile(const std::vector<double>& sorted, double q) {
    if (sorted.empty()) return 0;
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

double growth_pct(std::int64_t before, std::int64_t after) {
    if (before <= 0) return 0;
    return 100.0 * static_cast<double>(after - before) / static_cast<double>(before);
}

json_line start_line(const role_options& o) {
    json_line line;
    line.add("system", o.system).add("workload", o.work.workload).add("transport", o.transport());
    return line;
}

json_line latency_line(const role_options& o, latency_result r) {
    std::sort(r.samples_us.begin(), r.samples_us.end());
    const double secs = r.elapsed.count();
    const double mean = r.samples_us.empty()
                            ? 0
                            : std::accumulate(r.samples_us.begin(), r.samples_us.end(), 0.0) /
                                  static_cast<double>(r.samples_us.size());
    auto line = start_line(o);
    line.add("calls_per_s",
             secs > 0 ? std::llround(static_cast<double>(r.samples_us.size()) / secs) : 0)
        .add("p50_us", percentile(r.samples_us, 0.50), 1)
        .add("p99_us", percentile(r.samples_us, 0.99), 1)
        .add("p999_us", percentile(r.samples_us, 0.999), 1)
        .add("mean_us", mean, 1)
        .add("max_us", r.samples_us.empty() ? 0.0 : r.samples_us.back(), 1)
        .add("calls", r.samples_us.size())
        .add("errors", r.errors);
    return line;
}

json_line throughput_line(const role_options& o, const window_result& r) {
    const auto& s = o.work;
    const double secs = r.elapsed.count();
    const double calls_per_s = secs > 0 ? static_cast<double>(r.calls) / secs : 0;
    auto line = start_line(o);
    line.add("calls_per_s", std::llround(calls_per_s))
        .add("mb_per_s", calls_per_s * static_cast<double>(s.payload) / (1u << 20), 1)
        .add("calls", r.calls)
        .add("seconds", secs, 3)
        .add("connections", s.connections)
        .add("inflight", s.inflight)
        .add("payload", s.payload)
        .add("rss_growth_pct", growth_pct(r.rss_start_kib, r.rss_end_kib), 2)
        .add("errors", r.errors);
    return line;
}

// ---- the process ------------------------------------------------------------

std::int64_t current_rss_kib() {
    std::ifstream statm("/proc/self/statm");
    std::int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

std::int64_t peak_rss_kib() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;  // KiB on Linux
}

bool pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof set, &set) == 0) return true;
    fmt::print(stderr, "rotbench: cannot pin to CPU {}: {}\n", cpu, std::strerror(errno));
    return false;
}

}  // namespace rotbench
