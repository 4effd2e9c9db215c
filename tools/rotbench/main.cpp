// rotbench: rot against a raw TCP baseline, server and client in two processes
// on 127.0.0.1. By default it orchestrates: for each workload it starts a
// server and a client (this program re-executed in a role), passes their JSON
// lines on to stdout and ends with a summary of the ratios on stderr. It makes
// the run's cookie and, for --tls, its certificates (credentials.hpp).

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench.hpp"
#include "child_process.hpp"
#include "credentials.hpp"
#include "report.hpp"

namespace rotbench {

using rot::tools::child_process;
namespace {

constexpr const char* usage = R"(usage: rotbench [options]
Runs each workload over rot and over a raw TCP baseline (plain length-prefixed
frames, Asio, no RPC layer), server and client in two processes on 127.0.0.1.
Prints one JSON line per (system, workload) on stdout, a summary on stderr.
  --workload LIST     of W1,W2,W3,M1, or all (default: all)
                        W1  latency: bench:add(A, B), one call at a time
                        W2  small throughput: echo 32 bytes, 64 in flight, 4 connections
                        W3  bulk: echo 64 KiB, 8 in flight, 1 connection
                        M1  memory: 200 idle connections (rot only)
  --system LIST       of raw,rot,rot-pool (default: all three; raw runs first)
                        rot       handlers inline, on the server's I/O thread
                        rot-pool  handlers on the server's handler pool (what
                                  a server runs without inline_handlers)
  --calls N           W1 timed calls (default 20000; warm-up N/10)
  --duration SECONDS  W2/W3 timed window (default 5 and 3)
  --warmup SECONDS    W2/W3 warm-up (default 1)
  --connections N     W2/W3 connections (default 4 and 1)
  --inflight N        W2/W3 calls in flight (default 64 and 8)
  --payload BYTES     W2/W3 bytes echoed per call (default 32 and 65536)
  --server-cpu N      pin the server to CPU N  (default, with 2 or more CPUs:
  --client-cpu N      pin the client to CPU N   the first two CPUs we may use)
  --no-pin            do not pin
  --no-inline         the same as --system raw,rot-pool
  --raw-w1 MODE       how raw's W1 client waits for a reply (default: blocking;
                      raw's W1 only, reported as "client" in its JSON line)
                        blocking      a blocking read by the caller
                        io-thread     an I/O thread reads and wakes the caller
                                      (not with --tls)
                        caller-reads  the caller reads; an idle I/O thread
                                      watches the socket too
  --tls               run both systems over TLS (1.2 or newer): rot with
                      transport tls, raw over asio::ssl::stream, with the same
                      framing and clients. The certificates (an EC P-256 CA and
                      a server certificate for 127.0.0.1 and localhost, which
                      both clients verify) are made for the run in a private
                      temporary directory, removed at exit. JSON lines say
                      "transport":"tls" (else "tcp")
  --quick             a smoke run of seconds: W1 2000 calls, W2/W3 0.2 s warm-up + 1 s
  -h, --help          this help
The rot nodes authenticate with a random cookie made for the run; rotbench
never reads or creates ~/.rot.cookie.
Exit status: 0 when every workload completed with correct answers, 1 when one
did not, 2 for bad arguments.
)";

const std::vector<std::string> all_workloads = {"W1", "W2", "W3", "M1"};
const std::vector<std::string> all_systems = {"raw", "rot", "rot-pool"};  // the baseline first
const std::vector<std::string> rot_systems = {"rot", "rot-pool"};

// Idle connections M1 opens: enough that per-connection costs dominate noise.
constexpr std::size_t idle_connections = 200;

struct arguments {
    std::vector<std::string> workloads = all_workloads;
    std::vector<std::string> systems = all_systems;
    std::optional<std::size_t> calls, connections, inflight, payload;
    std::optional<double> duration, warmup;
    std::optional<int> server_cpu, client_cpu;
    bool no_pin = false;
    bool quick = false;
    bool no_inline = false;
    bool tls = false;
    std::string raw_w1 = "blocking";
    // Set by the orchestrator for the processes it starts.
    std::string role;
    std::optional<int> cpu;
    std::optional<std::size_t> port, warmup_calls, max_payload;
    std::string tls_dir;  // a role runs over TLS with the certificates there
};

// ---- flags ----------------------------------------------------------------------

template <class T>
std::optional<T> parse_number(std::string_view text) {
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::vector<std::string> split(std::string_view list) {
    std::vector<std::string> out;
    while (!list.empty()) {
        const auto comma = list.find(',');
        if (const auto item = list.substr(0, comma); !item.empty()) out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return out;
}

// Keeps the items in `known` order; false if one is not known.
bool choose(std::vector<std::string>& chosen, std::string_view list,
            const std::vector<std::string>& known) {
    const auto items = split(list);
    if (items == std::vector<std::string>{"all"}) {
        chosen = known;
        return true;
    }
    chosen.clear();
    for (const auto& k : known)
        if (std::find(items.begin(), items.end(), k) != items.end()) chosen.push_back(k);
    return !items.empty() && std::all_of(items.begin(), items.end(), [&](const auto& i) {
        return std::find(known.begin(), known.end(), i) != known.end();
    });
}

bool set_size(std::optional<std::size_t>& out, std::string_view v, std::size_t low,
              std::size_t high) {
    out = parse_number<std::size_t>(v);
    return out && *out >= low && *out <= high;
}

bool set_seconds(std::optional<double>& out, std::string_view v, double low) {
    out = parse_number<double>(v);
    return out && std::isfinite(*out) && *out >= low && *out <= 3600;
}

bool set_cpu(std::optional<int>& out, std::string_view v) {
    out = parse_number<int>(v);
    return out && *out >= 0 && *out < CPU_SETSIZE;
}

std::optional<arguments> parse_arguments(int argc, char** argv) {
    arguments a;
    using setter = std::function<bool(std::string_view)>;
    const std::map<std::string_view, setter> with_value = {
        {"--workload", [&](auto v) { return choose(a.workloads, v, all_workloads); }},
        {"--system", [&](auto v) { return choose(a.systems, v, all_systems); }},
        {"--calls", [&](auto v) { return set_size(a.calls, v, 1, 100'000'000); }},
        {"--duration", [&](auto v) { return set_seconds(a.duration, v, 0.01); }},
        {"--warmup", [&](auto v) { return set_seconds(a.warmup, v, 0); }},
        // A rot pool holds at most 1024 connections.
        {"--connections", [&](auto v) { return set_size(a.connections, v, 1, 1024); }},
        {"--inflight", [&](auto v) { return set_size(a.inflight, v, 1, 1'000'000); }},
        // Leaves room in rot's 64 MiB frame ceiling for the call's envelope.
        {"--payload", [&](auto v) { return set_size(a.payload, v, 0, 32u << 20); }},
        {"--raw-w1",
         [&](auto v) {
             a.raw_w1 = v;
             return v == "blocking" || v == "io-thread" || v == "caller-reads";
         }},
        {"--server-cpu", [&](auto v) { return set_cpu(a.server_cpu, v); }},
        {"--client-cpu", [&](auto v) { return set_cpu(a.client_cpu, v); }},
        // What the orchestrator tells the processes it starts.
        {"--role",
         [&](auto v) {
             a.role = v;
             return a.role == "server" || a.role == "client";
         }},
        {"--cpu", [&](auto v) { return set_cpu(a.cpu, v); }},
        {"--port", [&](auto v) { return set_size(a.port, v, 1, 65535); }},
        {"--warmup-calls", [&](auto v) { return set_size(a.warmup_calls, v, 0, 100'000'000); }},
        {"--max-payload", [&](auto v) { return set_size(a.max_payload, v, 0, 32u << 20); }},
        {"--tls-dir",
         [&](auto v) {
             a.tls_dir = v;
             return !v.empty();
         }},
    };
    const std::map<std::string_view, bool*> switches = {{"--no-pin", &a.no_pin},
                                                        {"--quick", &a.quick},
                                                        {"--no-inline", &a.no_inline},
                                                        {"--tls", &a.tls}};

    const auto fail = [](std::string_view what) -> std::optional<arguments> {
        std::cerr << "rotbench: " << what << "\n" << usage;
        return std::nullopt;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::cout << usage;
            std::exit(0);
        }
        if (const auto sw = switches.find(arg); sw != switches.end()) {
            *sw->second = true;
        } else if (const auto set = with_value.find(arg); set != with_value.end()) {
            if (i + 1 >= argc) return fail(fmt::format("{} needs a value", arg));
            const std::string_view v = argv[++i];
            if (!set->second(v)) return fail(fmt::format("bad value for {}: {}", arg, v));
        } else {
            return fail(fmt::format("unknown option {}", arg));
        }
    }
    if (a.tls && a.raw_w1 == "io-thread")
        return fail(
            "--raw-w1 io-thread does not run over --tls: its I/O thread would read the "
            "TLS stream while the caller writes to it (use blocking or caller-reads)");
    if (a.no_inline && a.role.empty()) {
        std::erase(a.systems, "rot");
        if (std::find(a.systems.begin(), a.systems.end(), "rot-pool") == a.systems.end())
            a.systems.emplace_back("rot-pool");
    }
    return a;
}

// ---- roles ----------------------------------------------------------------------

// The shape of one workload: its defaults, then what the flags override.
shape shape_for(const std::string& workload, const arguments& a) {
    shape s{.workload = workload};
    if (workload == "W1") {
        s.calls = a.calls.value_or(a.quick ? 2000 : 20000);
        s.warmup_calls = s.calls / 10;
        s.raw_w1 = a.raw_w1;
    } else if (workload == "M1") {
        s.connections = idle_connections;
    } else {
        const bool bulk = workload == "W3";
        s.warmup = seconds_d(a.warmup.value_or(a.quick ? 0.2 : 1.0));
        s.duration = seconds_d(a.duration.value_or(a.quick ? 1.0 : bulk ? 3.0 : 5.0));
        s.connections = a.connections.value_or(bulk ? 1 : 4);
        s.inflight = a.inflight.value_or(bulk ? 8 : 64);
        s.payload = a.payload.value_or(bulk ? 65536 : 32);
    }
    return s;
}

// A shape as flags for the client, which takes every field from them; only
// the fields its workload uses are passed.
std::vector<std::string> shape_arguments(const shape& s) {
    std::vector<std::string> args = {"--workload", s.workload};
    const auto add = [&](const char* flag, std::string value) {
        args.emplace_back(flag);
        args.push_back(std::move(value));
    };
    if (s.workload == "W1") {
        add("--calls", std::to_string(s.calls));
        add("--warmup-calls", std::to_string(s.warmup_calls));
        add("--raw-w1", s.raw_w1);
    } else if (s.workload == "M1") {
        add("--connections", std::to_string(s.connections));
    } else {
        add("--warmup", fmt::format("{}", s.warmup.count()));
        add("--duration", fmt::format("{}", s.duration.count()));
        add("--connections", std::to_string(s.connections));
        add("--inflight", std::to_string(s.inflight));
        add("--payload", std::to_string(s.payload));
    }
    return args;
}

shape given_shape(const arguments& a) {
    return {.workload = a.workloads[0],
            .calls = a.calls.value_or(0),
            .warmup_calls = a.warmup_calls.value_or(0),
            .warmup = seconds_d(a.warmup.value_or(0)),
            .duration = seconds_d(a.duration.value_or(0)),
            .connections = a.connections.value_or(1),
            .inflight = a.inflight.value_or(1),
            .payload = a.payload.value_or(0),
            .raw_w1 = a.raw_w1};
}

int run_role(const arguments& a) {
    if (a.systems.size() != 1 || (a.role == "client" && (a.workloads.size() != 1 || !a.port))) {
        std::cerr
            << "rotbench: a role needs one --system (and a client one --workload and --port)\n";
        return 2;
    }
    if (a.tls && a.tls_dir.empty()) {
        std::cerr << "rotbench: a role runs over TLS with --tls-dir, the run's certificates\n";
        return 2;
    }
    if (a.cpu) pin_to_cpu(*a.cpu);  // before any thread starts, so that all inherit it
    const bool rot = a.systems[0] != "raw";
    const char* cookie = std::getenv(cookie_variable);
    role_options o{.system = a.systems[0],
                   .port = static_cast<std::uint16_t>(a.port.value_or(0)),
                   .inline_handlers = a.systems[0] == "rot" && !a.no_inline,
                   .max_payload = a.max_payload.value_or(0),
                   .cookie = cookie ? cookie : "",
                   .tls_dir = a.tls_dir};
    try {
        if (a.role == "server") {
            rot ? rot_server(o) : raw_server(o);
            std::cout << "rss_kib " << peak_rss_kib() << std::endl;
            return 0;
        }
        o.work = given_shape(a);
        if (o.work.workload == "M1" && !rot) throw std::runtime_error("raw has no M1");
        auto line = rot ? rot_client(o) : raw_client(o);
        line.add("rss_kib", peak_rss_kib());
        std::cout << line.str() << std::endl;
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "rotbench " << a.role << " (" << a.systems[0] << "): " << e.what() << "\n";
        return 1;
    }
}

// ---- the orchestrator -------------------------------------------------------------

using fields = std::map<std::string, std::string>;

/// What one (system, workload) reported, in the order they ran.
struct outcome {
    std::string workload;
    std::string system;
    fields figures;
};

struct plan {
    std::string exe;  // this program, to re-execute in a role
    std::optional<int> server_cpu, client_cpu;
    std::string tls_dir;  // over TLS: the run's certificates; "": plain TCP
};

// The two CPUs to pin server and client to: the first two we may run on.
std::optional<std::pair<int, int>> default_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return std::nullopt;
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    if (cpus.size() < 2) return std::nullopt;
    return std::pair{cpus[0], cpus[1]};
}

std::string self_path() {
    char path[4096];
    const auto n = ::readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return "/proc/self/exe";
    return std::string(path, static_cast<std::size_t>(n));
}

// How long a client may take before it is killed: its shape's own time plus
// generous slack for start-up, connecting and draining.
std::chrono::milliseconds client_limit(const shape& s) {
    const auto slack = std::chrono::seconds(30);
    if (s.workload == "W1")
        return slack + std::chrono::milliseconds(2 * (s.calls + s.warmup_calls));
    return std::chrono::duration_cast<std::chrono::milliseconds>(s.warmup + s.duration) + slack;
}

// Runs one (system, workload): server, then client, then the server's exit.
// Returns the client's JSON fields with server_rss_kib, and the line as printed.
std::optional<std::pair<fields, std::string>> run_one(const plan& p, const std::string& system,
                                                      const shape& s) {
    const auto what = fmt::format("{} {}", system, s.workload);
    const auto complain = [&](std::string_view why) {
        std::cerr << "rotbench: " << what << ": " << why << "\n";
        return std::nullopt;
    };
    std::vector<std::string> server_args = {
        p.exe, "--role", "server", "--system", system, "--max-payload", std::to_string(s.payload)};
    if (p.server_cpu)
        server_args.insert(server_args.end(), {"--cpu", std::to_string(*p.server_cpu)});
    if (!p.tls_dir.empty()) server_args.insert(server_args.end(), {"--tls-dir", p.tls_dir});
    child_process server(server_args);
    const auto ready = server.read_line(std::chrono::seconds(10));
    if (!ready || ready->rfind("port ", 0) != 0) return complain("the server did not start");
    const std::string port = ready->substr(5);

    std::vector<std::string> client_args = {p.exe,  "--role", "client", "--system",
                                            system, "--port", port};
    if (p.client_cpu)
        client_args.insert(client_args.end(), {"--cpu", std::to_string(*p.client_cpu)});
    for (auto& arg : shape_arguments(s)) client_args.push_back(std::move(arg));
    if (!p.tls_dir.empty()) client_args.insert(client_args.end(), {"--tls-dir", p.tls_dir});
    std::optional<std::string> json;
    {
        child_process client(client_args);
        const auto deadline = std::chrono::steady_clock::now() + client_limit(s);
        while (const auto line =
                   client.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
                       deadline - std::chrono::steady_clock::now()))) {
            if (line->starts_with("{")) json = *line;
        }
        if (!client.wait_exit(std::chrono::seconds(5))) {
            client.kill();
            return complain("the client did not finish in time (killed)");
        }
        if (client.exit_code() != 0)
            return complain(fmt::format("the client failed (status {})", client.exit_code()));
    }

    server.close_stdin();
    std::optional<std::string> rss;
    while (const auto line = server.read_line(std::chrono::seconds(10)))
        if (line->starts_with("rss_kib ")) rss = line->substr(8);
    if (!server.wait_exit(std::chrono::seconds(5))) {
        server.kill();
        return complain("the server did not stop (killed)");
    }
    if (server.exit_code() != 0)
        return complain(fmt::format("the server failed (status {})", server.exit_code()));

    auto parsed = json ? parse_flat_json(*json) : std::nullopt;
    if (!parsed) return complain("the client printed no result");
    // Splice server_rss_kib into the client's line, before its closing brace.
    std::string line = json->substr(0, json->rfind('}'));
    line += fmt::format(",\"server_rss_kib\":{}}}", rss.value_or("0"));
    (*parsed)["server_rss_kib"] = rss.value_or("0");
    return std::pair{std::move(*parsed), std::move(line)};
}

double number(const fields& f, const std::string& key) {
    const auto it = f.find(key);
    if (it == f.end()) return NAN;
    return parse_number<double>(it->second).value_or(NAN);
}

std::string show(double v, int decimals) {
    return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "-";
}

// The summary on stderr: for each figure rot, raw and rot/raw, then memory.
// Every result of a run has the same transport, so ratios never mix them.
void print_summary(const std::vector<outcome>& results, bool tls) {
    struct figure {
        const char* workload;
        const char* key;
        const char* label;
        int decimals;
        bool lower_is_better;
    };
    static constexpr figure figures[] = {
        {"W1", "p50_us", "p50 µs", 1, true},        {"W1", "p99_us", "p99 µs", 1, true},
        {"W1", "calls_per_s", "calls/s", 0, false}, {"W2", "calls_per_s", "calls/s", 0, false},
        {"W3", "mb_per_s", "MB/s", 1, false},
    };
    const auto get = [&](const std::string& workload, const std::string& system) -> const fields* {
        const auto it = std::find_if(results.begin(), results.end(), [&](const outcome& o) {
            return o.workload == workload && o.system == system;
        });
        return it == results.end() ? nullptr : &it->figures;
    };
    const auto figure_of = [&](const std::string& workload, const std::string& system,
                               const std::string& key) {
        const auto* f = get(workload, system);
        return f ? number(*f, key) : NAN;
    };

    std::cerr << (tls ? "\nrotbench summary over TLS: rot against the raw TLS baseline\n"
                      : "\nrotbench summary: rot against the raw TCP baseline\n")
              << "(rot: handlers inline; rot-pool: on the handler pool, the default;\n"
              << " x/raw = 1.00: on par with raw; `better` says which way is good)\n";
    std::cerr << fmt::format("{:<9}{:<10}{:>12}{:>12}{:>9}{:>12}{:>9}  {}\n", "workload", "figure", "raw",
                             "rot", "rot/raw", "rot-pool", "pool/raw", "better");
    for (const auto& f : figures) {
        const double raw = figure_of(f.workload, "raw", f.key);
        const double rot = figure_of(f.workload, "rot", f.key);
        const double pool = figure_of(f.workload, "rot-pool", f.key);
        if (!std::isfinite(raw) && !std::isfinite(rot) && !std::isfinite(pool)) continue;
        std::cerr << fmt::format("{:<9}{:<10}{:>12}{:>12}{:>9}{:>12}{:>9}  {}\n", f.workload, f.label,
                                 show(raw, f.decimals), show(rot, f.decimals), show(rot / raw, 2),
                                 show(pool, f.decimals), show(pool / raw, 2),
                                 f.lower_is_better ? "lower" : "higher");
    }

    std::cerr << "\nmemory\n";
    const auto* m1 = get("M1", "rot");
    if (!m1) m1 = get("M1", "rot-pool");
    if (m1)
        std::cerr << fmt::format(
            "  M1  one idle rot connection{}: client {} KiB, server {} KiB (target: <= 64 each)\n",
            tls ? " over TLS" : "", show(number(*m1, "client_kib_per_conn"), 1),
            show(number(*m1, "server_kib_per_conn"), 1));
    for (const auto& system : all_systems) {
        if (const auto* w2 = get("W2", system)) {
            std::cerr << fmt::format("  W2  {} RSS growth over {} timed calls: client {}%", system,
                                     show(number(*w2, "calls"), 0),
                                     show(number(*w2, "rss_growth_pct"), 2));
            if (w2->contains("server_rss_growth_pct"))
                std::cerr << fmt::format(", server {}%",
                                         show(number(*w2, "server_rss_growth_pct"), 2));
            std::cerr << " (target: within 5%)\n";
        }
    }
    std::cerr << fmt::format("\n{:<18}{:>12}{:>12}\n", "peak RSS (KiB)", "server", "client");
    for (const auto& r : results)
        std::cerr << fmt::format("  {:<16}{:>12}{:>12}\n", r.workload + " " + r.system,
                                 show(number(r.figures, "server_rss_kib"), 0),
                                 show(number(r.figures, "rss_kib"), 0));
}

int orchestrate(const arguments& a) {
    const auto started = std::chrono::steady_clock::now();
    std::optional<tls_directory> tls;
    try {
        // The roles inherit the cookie from our environment (see cookie_variable).
        if (::setenv(cookie_variable, random_cookie().c_str(), 1) != 0)
            throw std::runtime_error(fmt::format("cannot set {}", cookie_variable));
        if (a.tls) tls.emplace();
    } catch (const std::exception& e) {
        std::cerr << "rotbench: " << e.what() << "\n";
        return 1;
    }
    plan p{.exe = self_path(),
           .tls_dir = tls ? tls->path() : std::string()};
    if (!a.no_pin) {
        p.server_cpu = a.server_cpu;
        p.client_cpu = a.client_cpu;
        if (const auto cpus = default_cpus()) {
            if (!p.server_cpu) p.server_cpu = cpus->first;
            if (!p.client_cpu) p.client_cpu = cpus->second;
        }
    }

    std::vector<outcome> results;
    int failures = 0;
    for (const auto& workload : a.workloads) {
        const shape s = shape_for(workload, a);
        // raw and rot back to back, so that each ratio compares runs minutes apart at most.
        for (const auto& system : a.systems) {
            if (workload == "M1" && system == "raw") continue;  // nothing to compare with
            // Idle connections do not run handlers: M1 once, for the first rot system.
            if (workload == "M1" && system == "rot-pool" &&
                std::find(a.systems.begin(), a.systems.end(), "rot") != a.systems.end())
                continue;
            auto run = run_one(p, system, s);
            if (!run) {
                ++failures;
                continue;
            }
            auto& [f, line] = *run;
            std::cout << line << std::endl;
            if (f["errors"] != "0") {
                std::cerr << "rotbench: " << system << " " << workload << ": " << f["errors"]
                          << " wrong or failed answers\n";
                ++failures;
            }
            results.push_back({workload, system, std::move(f)});
        }
    }
    print_summary(results, a.tls);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    std::cerr << fmt::format(
        "\nrotbench: {} in {:.1f} s\n",
        failures ? fmt::format("{} FAILED", failures) : std::string("all passed"), took.count());
    return failures ? 1 : 0;
}

}  // namespace
}  // namespace rotbench

int main(int argc, char** argv) {
    const auto args = rotbench::parse_arguments(argc, argv);
    if (!args) return 2;
    return args->role.empty() ? rotbench::orchestrate(*args) : rotbench::run_role(*args);
}
