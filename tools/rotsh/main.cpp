// rotsh: rot's shell. A node of its own that you talk to interactively (with
// libedit), from a script on stdin, with -e, or that just serves (--serve).

#include <rot/config.hpp>
#include <rot/rot.hpp>

#include <editline/readline.h>
#include <langinfo.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>

#include "shell.hpp"

namespace {

constexpr const char* usage = R"(usage: rotsh [options]
  --name NAME      the node's name (default: from the config, else rotsh_<pid>)
  --cookie SECRET  the node's cookie (default: the config's, else $ROT_COOKIE,
                   else ~/.rot.cookie, created when missing); other users
                   can read it in ps: prefer --cookie-file or ROT_COOKIE
  --cookie-file F  read the cookie from F (readable by its owner only)
  --config FILE    load a TOML config first (servers, connections, modules)
  -e EXPR          evaluate EXPR and print the result (repeatable); then exit,
                   or with --serve, serve
  --serve          run the configured node without a shell until SIGINT/SIGTERM
  --keep-going     in scripts, go on after a failure (the exit status is still 1)
  --format FORMAT  text (default), or json: each result as one line of JSON
  --timeout MS     the default call timeout in milliseconds (default 5000)
  --version        rotsh's version and the protocol it speaks
  -h, --help       this help
Exit status: 0 when every expression succeeded, 1 after a failure, 2 for bad
arguments or a bad config (nothing is started), 130 after Ctrl-C in a script.
)";

struct arguments {
    std::optional<std::string> name;
    std::optional<std::string> cookie;
    std::optional<std::string> cookie_file;
    std::optional<std::string> config;
    std::vector<std::string> expressions;
    std::optional<std::chrono::milliseconds> timeout;
    bool serve = false;
    bool keep_going = false;
    bool json = false;
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
        } else if (arg == "--format") {
            const auto v = value();
            if (!v) return std::nullopt;
            if (*v != "text" && *v != "json") {
                std::cerr << "rotsh: --format is text or json, not " << *v << "\n";
                return std::nullopt;
            }
            a.json = *v == "json";
        } else if (arg == "--timeout") {
            const auto v = value();
            if (!v) return std::nullopt;
            char* end = nullptr;
            errno = 0;
            const long long ms = std::strtoll(v->c_str(), &end, 10);
            if (v->empty() || *end != '\0' || errno != 0 || ms < 1 || ms > INT32_MAX) {
                std::cerr << "rotsh: --timeout takes milliseconds, 1 to " << INT32_MAX << ", not " << *v << "\n";
                return std::nullopt;
            }
            a.timeout = std::chrono::milliseconds(ms);
        } else if (arg == "--version") {
            std::cout << "rotsh " << rot::version() << " (rot protocol " << rot::protocol_version() << ")\n";
            std::exit(0);
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

// --- Signals -----------------------------------------------------------------

// In the shell, Ctrl-C gives up the call being waited for, or clears the line
// at a prompt; twice in a row at a prompt, it quits. SIGTERM quits. Both
// handlers only store to atomics (and interrupt() does no more).
std::atomic<int> g_interrupts{0};
std::atomic<bool> g_terminate{false};
std::atomic<rotsh::shell*> g_shell{nullptr};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<rotsh::shell*>::is_always_lock_free);

void on_interrupt(int) {
    g_interrupts.fetch_add(1, std::memory_order_relaxed);
    if (auto* sh = g_shell.load()) sh->interrupt();
}

void on_terminate(int) {
    g_terminate.store(true, std::memory_order_relaxed);
    if (auto* sh = g_shell.load()) sh->interrupt();
}

/// Without SA_RESTART: a read waiting for input returns, so the loop sees the signal.
void catch_signals() {
    struct sigaction sa {};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_interrupt;
    ::sigaction(SIGINT, &sa, nullptr);
    sa.sa_handler = on_terminate;
    ::sigaction(SIGTERM, &sa, nullptr);
}

// --- Interactive ------------------------------------------------------------

std::vector<std::string> g_matches;

char* next_match(const char*, int state) {
    static std::size_t i;
    if (state == 0) i = 0;
    return i < g_matches.size() ? ::strdup(g_matches[i++].c_str()) : nullptr;
}

char** complete(const char* text, int start, int end) {
    rl_attempted_completion_over = 1;  // no file-name completion as a fallback
    g_matches = g_shell.load()->complete(rl_line_buffer, static_cast<std::size_t>(start), static_cast<std::size_t>(end));
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

/// The terminal's width, for wrapping long values (80 when it does not say).
std::size_t terminal_width() {
    winsize w{};
    return ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0 ? w.ws_col : 80;
}

bool blank(std::string_view text) { return text.find_first_not_of(" \t\r\n") == std::string_view::npos; }

int interactive(rotsh::settings settings, rot::node& node) {
    rotsh::shell sh(node, print_line, settings);
    g_shell = &sh;
    rl_readline_name = "rotsh";
    rl_catch_signals = 0;  // Ctrl-C comes to on_interrupt, and readline returns
    rl_attempted_completion_function = complete;
    rl_completion_append_character = '\0';  // after "add" comes ", [...]", not a space
    // ':' is part of module:function, so it does not break words.
    static char breaks[] = " \t\n\"\\'`@$><=;|&{([,";
    rl_completer_word_break_characters = breaks;
    const char* home = std::getenv("HOME");
    const std::filesystem::path history = std::filesystem::path(home ? home : ".") / ".rot_history";
    for (const auto& line : read_lines(history)) ::add_history(line.c_str());

    std::string statement;  // what was typed of it so far, over several lines
    bool interrupted_before = false;
    while (!g_terminate) {
        g_news.flush();
        const std::string prompt = fmt::format("{} {}> ", node.name(), sh.next_number());
        g_interrupts = 0;
        char* raw = ::readline(prompt.c_str());
        if (g_terminate) break;
        if (!raw && g_interrupts > 0) {
            // Ctrl-C at a prompt: the line (and a statement begun) is dropped.
            std::fputs("\n", stdout);
            statement.clear();
            if (interrupted_before) break;
            interrupted_before = true;
            std::fputs("(Ctrl-C again to quit)\n", stdout);
            continue;
        }
        if (!raw) {
            // Ctrl-D: libedit echoed "^D" after the prompt; it goes, and the line ends.
            std::fputs("\b\b  \n", stdout);
            break;
        }
        interrupted_before = false;
        const std::string line(raw);
        std::free(raw);
        if (statement.empty() && blank(line)) continue;
        statement += statement.empty() ? line : "\n" + line;
        if (!rotsh::shell::is_complete(statement)) continue;
        // One history entry per statement, however many lines it took.
        std::string entry = statement;
        std::replace(entry.begin(), entry.end(), '\n', ' ');
        ::add_history(entry.c_str());
        std::ofstream(history, std::ios::app) << entry << '\n';
        const std::string text = std::exchange(statement, {});
        bool quit = false;
        for (const auto& o : sh.eval(text)) {
            print_line(o.line);
            quit = quit || o.quit;
        }
        if (quit) break;
    }
    g_shell = nullptr;
    if (auto lines = read_lines(history); lines.size() > history_limit) {
        std::ofstream out(history, std::ios::trunc);
        for (auto it = lines.end() - history_limit; it != lines.end(); ++it) out << *it << '\n';
    }
    return 0;
}

// --- Scripts and -e -----------------------------------------------------------

/// Prints each outcome; false when the script should stop (q(), or a failure without --keep-going).
bool report(const std::vector<rotsh::outcome>& outcomes, bool keep_going, int& status) {
    for (const auto& o : outcomes) {
        print_line(o.line);
        if (!o.ok) status = 1;
        if (o.quit || (!o.ok && !keep_going)) return false;
    }
    return true;
}

/// 128 + the signal that asks a script to end (Ctrl-C, SIGTERM), or 0.
int signalled() {
    if (g_terminate) return 128 + SIGTERM;
    return g_interrupts > 0 ? 128 + SIGINT : 0;
}

/// Statements may span lines: each is evaluated once its `.` has come.
int run_script(rotsh::shell& sh, std::istream& in, bool keep_going) {
    int status = 0;
    std::string statement;
    std::string line;
    while (!signalled() && std::getline(in, line)) {
        if (statement.empty() && blank(line)) continue;
        statement += statement.empty() ? line : "\n" + line;
        if (!rotsh::shell::is_complete(statement)) continue;
        const bool go_on = report(sh.eval(std::exchange(statement, {})), keep_going, status);
        if (signalled()) return signalled();
        if (!go_on) return status;
    }
    if (signalled()) return signalled();
    // The end of the input ends an unfinished last statement.
    if (!blank(statement)) report(sh.eval(statement), keep_going, status);
    return status;
}

// --- The node, as the config and the arguments describe it ----------------------

/// The locale's character type, so that libedit reads and shows UTF-8; a
/// terminal without a UTF-8 locale gets C.UTF-8. Numbers stay in the C locale.
void use_utf8() {
    const char* ctype = std::setlocale(LC_CTYPE, "");
    const std::string_view codeset = ctype ? ::nl_langinfo(CODESET) : "";
    if (codeset != "UTF-8") std::setlocale(LC_CTYPE, "C.UTF-8");
}

/// Loads the config's modules, starts its servers and dials its connections,
/// in that order; the first failure is returned (nothing of the job runs).
std::optional<std::string> apply(rot::node& node, const rot::config& cfg) {
    for (const auto& m : cfg.modules)
        if (auto r = node.load_module(m); !r) return r.error().message;
    for (const auto& s : cfg.servers) {
        try {
            node.start_server(s);
        } catch (const rot::error& e) {
            return e.message();
        }
    }
    for (const auto& c : cfg.connects) {
        // A linked pool is kept up: lost connections are dialed again; with
        // its server's name given it may start before its server does.
        auto options = c.options;
        options.supervise = options.supervise || c.link;
        if (auto r = node.try_connect(c.host, options, c.connections); !r) return r.error().message;
    }
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    use_utf8();
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
    // Without a name of its own, each rotsh is rotsh_<pid>: two scripted
    // calls at once never take each other's name.
    if (args->name) cfg.node.name = *args->name;
    else if (cfg.node.name == rot::node_options{}.name) cfg.node.name = fmt::format("rotsh_{}", ::getpid());
    if (args->cookie || args->cookie_file) {
        cfg.node.cookie = args->cookie.value_or("");
        cfg.node.cookie_file = args->cookie_file.value_or("");
    }
    if (args->timeout) cfg.node.call_timeout = *args->timeout;

    // SIGINT and SIGTERM are for this thread (its read of input must see
    // them; --serve takes them in node::wait()): blocked before the node's
    // threads start, so that none of them takes one.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    if (!args->serve) catch_signals();

    std::optional<rot::node> node;
    try {
        node.emplace(cfg.node);
    } catch (const rot::error& e) {
        std::cerr << "rotsh: " << e.message() << "\n";
        return 2;
    }
    if (!args->serve) ::pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
    rot::set_log_level(cfg.log_level);  // checked by the config loader
    // At a prompt and in --serve, one line when a peer goes down or comes
    // back (stderr: stdout carries one line per expression). A script learns
    // it from its own results.
    const bool at_terminal = !args->serve && args->expressions.empty() && ::isatty(STDIN_FILENO);
    if (at_terminal) g_news.hold_for_prompt();
    if (at_terminal || args->serve) {
        // "Up" is news only for a peer that was down: a connect says so itself.
        // Set before the config connects, so that a peer lost at once is told.
        auto was_down = std::make_shared<std::set<std::string>>();
        auto news_mutex = std::make_shared<std::mutex>();
        node->on_peer_down([was_down, news_mutex](const std::string& peer, const rot::failure& reason) {
            std::lock_guard lock(*news_mutex);
            was_down->insert(peer);
            g_news.say(fmt::format("rotsh: {} is down: {}", peer, reason.message));
        });
        node->on_peer_up([was_down, news_mutex](const std::string& peer) {
            std::lock_guard lock(*news_mutex);
            if (was_down->erase(peer)) g_news.say(fmt::format("rotsh: {} is up", peer));
        });
    }

    if (const auto failed = apply(*node, cfg)) {
        std::cerr << "rotsh: " << *failed << "\n";
        return 2;
    }
    rotsh::settings settings;
    settings.json = args->json;
    if (at_terminal) {
        settings.width = terminal_width();
        return interactive(settings, *node);
    }
    // With JSON results on stdout, what help() and b() print goes to stderr.
    const auto say = settings.json ? [](std::string_view line) { std::cerr << line << std::endl; } : print_line;
    rotsh::shell sh(*node, say, settings);
    g_shell = &sh;
    int status = 0;
    for (const auto& e : args->expressions) {
        const bool go_on = report(sh.eval(e), args->keep_going, status);
        if (signalled()) return signalled();
        if (!go_on) return status;
    }
    if (args->serve) {
        if (status != 0) return status;
        g_shell = nullptr;
        // Peers are told goodbye at once; handlers already running get the
        // shutdown grace period; a second signal ends the process at once.
        // Handlers still running after their grace are not waited for.
        (void)node->wait();
        std::fflush(nullptr);
        std::_Exit(0);
    }
    if (!args->expressions.empty()) return status;
    status = run_script(sh, std::cin, args->keep_going);
    g_shell = nullptr;
    return status;
}
