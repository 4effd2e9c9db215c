#pragma once
// The rotsh language: Erlang-flavoured expressions over a rot::node.
// main.cpp deals with argv and the terminal; everything else is here, so
// tests can drive a shell without either. docs/SHELL.md is the reference.

#include <rot/rot.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "syntax.hpp"

namespace rotsh {

/// A failure of the shell's own, of a kind rot::errc has no name for
/// (badmatch, unbound, badarith, interrupted).
class shell_error : public std::runtime_error {
public:
    shell_error(std::string kind, const std::string& message) : std::runtime_error(message), kind_(std::move(kind)) {}
    [[nodiscard]] const std::string& kind() const noexcept { return kind_; }

private:
    std::string kind_;
};

/// Variables and their values.
using bindings = std::map<std::string, rot::term, std::less<>>;

/// What evaluating one statement printed.
struct outcome {
    /// The value, or "** exception error: ..." (one line, unless
    /// settings::width wraps a long value; one line of JSON with settings::json).
    std::string line;
    bool ok = true;            ///< false for exceptions and {error, _} answers
    bool quit = false;         ///< q() was evaluated
    bool interrupted = false;  ///< interrupt() gave up a wait (line: "** interrupted: ...")
};

/// How a shell prints and how long its calls wait.
struct settings {
    /// 0: each value on one line (for scripts). Otherwise values whose one-line
    /// form is longer are wrapped at this width, like Erlang's ~p.
    std::size_t width = 0;
    /// Each value, and each failure, as one line of JSON (docs/SHELL.md, "JSON").
    bool json = false;
    /// Of call/2, multicall/2, ping/1 and local M:F(...) calls; unset: the node's
    /// options().call_timeout.
    std::optional<std::chrono::milliseconds> call_timeout;
};

/// A shell over a node. eval() and complete() are for one thread at a time;
/// interrupt() is for any thread, or a signal handler.
class shell {
public:
    /// `say` receives text printed along the way (help()'s and b()'s lines).
    explicit shell(rot::node& node, std::function<void(std::string_view)> say = {});
    shell(rot::node& node, std::function<void(std::string_view)> say, settings s);

    /// Evaluates every statement in `input`; each ends with `.` (optional for
    /// the last) and may span lines. A statement with a syntax error is
    /// reported and not evaluated; the next one is.
    [[nodiscard]] std::vector<outcome> eval(std::string_view input);

    /// False while the last statement of `text` is unfinished (no `.` ends it
    /// outside strings, quoted atoms, `$c` and comments); blank text is complete.
    [[nodiscard]] static bool is_complete(std::string_view text);

    /// The number the next evaluated statement gets (for a prompt: `node1 3>`).
    /// Statements count from 1; syntax errors are not evaluated and not counted.
    [[nodiscard]] std::size_t next_number() const noexcept { return evaluated_ + 1; }

    /// Makes a wait of the running eval() (call, multicall, ping, a local
    /// M:F(...)) give up within a few tens of milliseconds; its outcome is
    /// interrupted and a late reply is dropped. Only stores to an atomic, so a
    /// signal handler may call it. eval() clears it when it starts.
    void interrupt() noexcept { interrupted_.store(true, std::memory_order_relaxed); }

    /// Completions for the word line[start, end): what would run. Shell
    /// functions, connected node names, `rot:`/`erlang:`/`net_adm:`/`rpc:`
    /// functions, this node's module functions (`math:`), and inside
    /// `call(Peer, {` Peer's modules and functions (asked with rot:exports).
    [[nodiscard]] std::vector<std::string> complete(std::string_view line, std::size_t start,
                                                    std::size_t end);

    /// One line per shell function.
    [[nodiscard]] static const std::vector<std::string>& help_lines();

private:
    /// An evaluated statement, for v(N) and e(N).
    struct past {
        std::size_t number;
        std::string text;
        std::optional<rot::term> value;  ///< none when it raised
    };

    outcome eval_statement(const std::string& text);
    rot::term run(const statement& s, bindings& b);
    rot::term evaluate(const expr& e, bindings& b);
    std::vector<rot::term> evaluate_all(const std::vector<expr>& es, bindings& b);
    rot::term call(const expr& e, bindings& b);
    /// Runs comprehension `e` from qualifier `next` on, adding to `out`.
    void comprehend(const expr& e, std::size_t next, bindings& b, rot::term::list_type& out);

    rot::term shell_call(std::string_view function, const std::vector<expr>& args, bindings& b);
    rot::term apply(std::string_view function, const std::vector<rot::term>& args, bindings& b);
    rot::term local_call(const rot::mfa& request, std::chrono::milliseconds timeout);
    const past& history(const rot::term& n) const;
    rot::term reevaluate(const past& p, bindings& b);

    /// Calls every peer at once and waits for all, giving up on interrupt().
    std::vector<rot::result<rot::term>> await(const std::vector<std::string>& peers, const rot::mfa& request,
                                              std::chrono::milliseconds timeout);
    rot::term await_one(const std::string& peer, const rot::mfa& request, std::chrono::milliseconds timeout);
    std::vector<std::string> other_nodes() const;
    std::vector<std::string> remote_names(std::string_view peer, std::string_view module);
    std::string show(const rot::term& value) const;
    outcome failed(std::string_view kind, std::string_view message) const;

    rot::node& node_;
    std::function<void(std::string_view)> say_;
    settings settings_;
    std::chrono::milliseconds call_timeout_;
    bindings bindings_;
    std::deque<past> history_;
    std::size_t evaluated_ = 0;
    std::size_t current_ = 0;  ///< the statement being evaluated (that of e(N) while it re-runs N)
    bool quit_ = false;
    std::atomic<bool> interrupted_{false};
    std::size_t built_ = 0;  ///< terms list comprehensions built in this statement
    static_assert(std::atomic<bool>::is_always_lock_free, "interrupt() must be async-signal-safe");
};

/// Splits input into statements at each `.` that ends one (followed by
/// whitespace, `%` or the end, outside strings, quoted atoms, `$c` and
/// comments), without the dots; a last one without its dot is included.
[[nodiscard]] std::vector<std::string> split_expressions(std::string_view input);

/// "** exception error: ..." for a failure.
[[nodiscard]] std::string exception_line(const rot::failure& f);

}  // namespace rotsh
