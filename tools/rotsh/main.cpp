// rotsh: rot's shell. A node of its own that you talk to interactively (with
// libedit), from a script on stdin, with -e, or that just serves (--serve).

#include <rot/config.hpp>
#include <rot/rot.hpp>

#include <editline/readline.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include "shell.hpp"

namespace {

constexpr const char* usage = R"(usage: rotsh [options]
  --name NAME      the node's name (default: from the config, else nonode@nohost)
  --cookie SECRET  the node's cookie (default: the config's, else $ROT_COOKIE,
                   else ~/.rot.cookie, created when missing); other users
                   can read it in ps: prefer --cookie-file or ROT_COOKIE
  --cookie-file F  read the cookie from F (readable by its owner only)
  --config FILE    load a TOML config first (servers, connections, modules)
  -e EXPR          evaluate EXPR, print the result and exit
  --serve          run the configured node without a shell until SIGINT/SIGTERM
  --keep-going     in scripts, go on after a failure (the exit status is still 1)
  -h, --help       this help
Exit status: 0 when every expression succeeded, 1 after a failure, 2 for bad
arguments or a bad config.
)";

struct arguments {
    std::optional<std::string> name;
    std::optional<std::string> cookie;
    std::optional<std::string> cookie_file;
    std::optional<std::string> config;
    std::vector<std::string> expressions;
    bool serve = false;
    bool keep_going = false;
};

std::optional<arguments> parse_arguments(int argc, char** argv) {
    arguments a;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= argc) {
                std::cerr << "rotsh: " << arg << " needs a value\n" << usage;
                return std::nullopt;
            }
            return argv[++i];
        };
        if (arg == "--name") {
            if (!(a.name = value())) return std::nullopt;
        } else if (arg == "--cookie") {
            if (!(a.cookie = value())) return std::nullopt;
        } else if (arg == "--cookie-file") {
            if (!(a.cookie_file = value())) return std::nullopt;
        } else if (arg == "--config") {
            if (!(a.config = value())) return std::nullopt;
        } else if (arg == "-e") {
            auto v = value();
            if (!v) return std::nullopt;
            a.expressions.push_back(*v);
        } else if (arg == "--serve") {
            a.serve = true;
        } else if (arg == "--keep-going") {
            a.keep_going = true;
        } else if (arg == "-h" || arg == "--help") {
            std::cout << usage;
            std::exit(0);
        } else {
            std::cerr << "rotsh: unknown argument " << arg << "\n" << usage;
            return std::nullopt;
        }
    }
    if (a.cookie && a.cookie_file) {
        std::cerr << "rotsh: give --cookie or --cookie-file, not both\n" << usage;
        return std::nullopt;
    }
    return a;
}

void print_line(std::string_view line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);  // another program may be waiting for this line
}

/// Where plugins are looked for when a relative path does not exist: beside rotsh.
std::filesystem::path beside_rotsh(const std::filesystem::path& p) {
    if (p.is_absolute() || std::filesystem::exists(p)) return p;
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return p;
    const auto candidate = exe.parent_path() / p.filename();
    return std::filesystem::exists(candidate) ? candidate : p;
}

// --- News: peers going down and coming back -----------------------------------

// At a prompt a line printed from another thread would break the line being
// edited: there the news waits for the next prompt. Elsewhere it goes out at once.
class news {
public:
    void hold_for_prompt() {
        std::lock_guard lock(mutex_);
        holding_ = true;
    }
    void say(std::string line) {
        std::lock_guard lock(mutex_);
        if (holding_) held_.push_back(std::move(line));
        else std::cerr << line << std::endl;
    }
    /// Prints what waited (before a prompt).
    void flush() {
        std::lock_guard lock(mutex_);
        for (const auto& line : held_) std::cerr << line << '\n';
        std::cerr.flush();
        held_.clear();
    }

private:
    std::mutex mutex_;
    bool holding_ = false;
    std::vector<std::string> held_;
};

news g_news;

// --- Interactive ------------------------------------------------------------

rotsh::shell* g_shell = nullptr;
std::vector<std::string> g_matches;

char* next_match(const char*, int state) {
    static std::size_t i;
    if (state == 0) i = 0;
    return i < g_matches.size() ? ::strdup(g_matches[i++].c_str()) : nullptr;
}

char** complete(const char* text, int start, int end) {
    rl_attempted_completion_over = 1;  // no file-name completion as a fallback
    g_matches = g_shell->complete(rl_line_buffer, static_cast<std::size_t>(start), static_cast<std::size_t>(end));
    return rl_completion_matches(text, next_match);
}

// History is kept as plain lines (libedit's own format escapes them), the
// newest last, trimmed to the last history_limit lines at exit.
constexpr std::size_t history_limit = 1000;

std::vector<std::string> read_lines(const std::filesystem::path& p) {
    std::vector<std::string> lines;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

int interactive(rotsh::shell& sh, const rot::node& node) {
    g_shell = &sh;
    rl_readline_name = "rotsh";
    rl_attempted_completion_function = complete;
    rl_completion_append_character = '\0';  // after "add" comes ", [...]", not a space
    // ':' is part of module:function, so it does not break words.
    static char breaks[] = " \t\n\"\\'`@$><=;|&{([,";
    rl_completer_word_break_characters = breaks;
    const char* home = std::getenv("HOME");
    const std::filesystem::path history = std::filesystem::path(home ? home : ".") / ".rot_history";
    for (const auto& line : read_lines(history)) ::add_history(line.c_str());

    const std::string prompt = node.name() + "> ";
    for (;;) {
        g_news.flush();
        char* raw = ::readline(prompt.c_str());
        if (!raw) break;
        const std::string line(raw);
        std::free(raw);
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        ::add_history(line.c_str());
        std::ofstream(history, std::ios::app) << line << '\n';
        bool quit = false;
        for (const auto& o : sh.eval(line)) {
            print_line(o.line);
            quit = quit || o.quit;
        }
        if (quit) break;
    }
    if (auto lines = read_lines(history); lines.size() > history_limit) {
        std::ofstream out(history, std::ios::trunc);
        for (auto it = lines.end() - history_limit; it != lines.end(); ++it) out << *it << '\n';
    }
    return 0;
}

// --- Scripts and -e -----------------------------------------------------------

int run_script(rotsh::shell& sh, std::istream& in, bool keep_going) {
    int status = 0;
    std::string line;
    while (std::getline(in, line)) {
        for (const auto& o : sh.eval(line)) {
            print_line(o.line);
            if (!o.ok) status = 1;
            if (o.quit || (!o.ok && !keep_going)) return status;
        }
    }
    return status;
}

// --- --serve -------------------------------------------------------------------

// Runs until SIGINT or SIGTERM, then stops the node: peers are told goodbye
// at once, handlers already running get the shutdown grace period. The
// process is gone within the grace period and a second after, whatever a
// handler does; a second signal ends it at once.
int serve(rot::node& node, const sigset_t& signals) {
    int sig = 0;
    ::sigwait(&signals, &sig);
    std::atomic<bool> stopped{false};
    std::thread stopper([&] {
        node.stop();
        stopped = true;
    });
    const auto limit = std::chrono::steady_clock::now() + node.options().shutdown_grace + std::chrono::seconds(1);
    while (!stopped) {
        const timespec tick{0, 20'000'000};
        if (::sigtimedwait(&signals, nullptr, &tick) > 0 || std::chrono::steady_clock::now() > limit) {
            std::fflush(nullptr);
            std::_Exit(stopped ? 0 : 1);  // the second signal, or a handler past its grace
        }
    }
    stopper.join();
    // Threads still in handlers past their grace are not waited for.
    std::fflush(nullptr);
    std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
    const auto args = parse_arguments(argc, argv);
    if (!args) return 2;

    rot::config cfg;
    if (args->config) {
        try {
            cfg = rot::load_config(*args->config);
        } catch (const rot::error& e) {
            std::cerr << "rotsh: " << e.message() << "\n";
            return 2;
        }
    }
    if (args->name) cfg.node.name = *args->name;
    if (args->cookie || args->cookie_file) {
        cfg.node.cookie = args->cookie.value_or("");
        cfg.node.cookie_file = args->cookie_file.value_or("");
    }

    // Signals are taken synchronously by --serve: block them before the
    // node's threads start, so every thread inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    if (args->serve) ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    std::optional<rot::node> node;
    try {
        node.emplace(cfg.node);
    } catch (const rot::error& e) {
        std::cerr << "rotsh: " << e.message() << "\n";
        return 2;
    }
    rot::set_log_level(cfg.log_level);  // checked by the config loader
    rotsh::shell sh(*node, print_line);

    for (const auto& m : cfg.modules) {
        auto r = node->load_module(beside_rotsh(m));
        if (!r) std::cerr << "rotsh: " << r.error().message << "\n";
    }
    for (const auto& s : cfg.servers) {
        try {
            node->start_server(s);
        } catch (const rot::error& e) {
            std::cerr << "rotsh: " << e.message() << "\n";
            return 1;
        }
    }
    // One line when a peer goes down or comes back (stderr: stdout carries
    // one line per expression).
    const bool at_terminal = !args->serve && args->expressions.empty() && ::isatty(STDIN_FILENO);
    if (at_terminal) g_news.hold_for_prompt();
    node->on_peer_down([](const std::string& peer, const rot::failure& reason) {
        g_news.say(fmt::format("rotsh: {} is down: {}", peer, reason.message));
    });
    node->on_peer_up([](const std::string& peer) { g_news.say(fmt::format("rotsh: {} is up", peer)); });
    bool linked_failed = false;
    for (const auto& c : cfg.connects) {
        // A linked pool is kept up: lost connections are dialed again.
        auto options = c.options;
        options.supervise = options.supervise || c.link;
        auto r = node->try_connect(c.host, options, c.connections);
        if (!r) {
            std::cerr << "rotsh: " << r.error().message << "\n";
            linked_failed = linked_failed || c.link;
        }
    }
    if (args->serve) {
        // A linked pool that could not start (no server name to wait for) is the job failing.
        if (linked_failed) return 1;
        return serve(*node, signals);
    }
    if (!args->expressions.empty()) {
        int status = 0;
        for (const auto& e : args->expressions) {
            for (const auto& o : sh.eval(e)) {
                print_line(o.line);
                if (!o.ok) status = 1;
                if (o.quit || (!o.ok && !args->keep_going)) return status;
            }
        }
        return status;
    }
    if (::isatty(STDIN_FILENO)) return interactive(sh, *node);
    return run_script(sh, std::cin, args->keep_going);
}
