#include "shell.hpp"

#include <rot/async.hpp>

#include <fmt/ranges.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <utility>

#include "builtins.hpp"
#include "format.hpp"
#include "operators.hpp"

namespace rotsh {

using rot::atom;
using rot::errc;
using rot::term;
using namespace std::chrono_literals;

namespace {

// Completion asks peers; a slow peer must not freeze the prompt.
constexpr auto completion_timeout = 300ms;
// A signal handler cannot notify a condition variable, so waits look at the
// interrupt flag this often.
constexpr auto interrupt_poll = 10ms;
// List comprehensions build at most this many terms in one statement,
// nested ones and values copied into elements included.
constexpr std::size_t max_comprehension = 1'000'000;
// Statements v(N) and e(N) reach back to, as many as erl keeps by default.
constexpr std::size_t history_limit = 20;
// call(Node, MFA, infinity).
constexpr std::chrono::milliseconds forever = std::chrono::hours(24 * 365);

[[noreturn]] void raise(errc code, const std::string& message) { throw rot::error(code, message); }

std::string_view errc_name(errc e) {
    switch (e) {
        case errc::timeout: return "timeout";
        case errc::not_connected: return "not_connected";
        case errc::connection_lost: return "connection_lost";
        case errc::undef: return "undef";
        case errc::badarg: return "badarg";
        case errc::exception: return "exception";
        case errc::bad_request: return "bad_request";
        case errc::protocol_error: return "protocol_error";
        case errc::version_mismatch: return "version_mismatch";
        case errc::name_conflict: return "name_conflict";
        case errc::frame_too_large: return "frame_too_large";
        case errc::stopped: return "stopped";
        case errc::already_exists: return "already_exists";
        case errc::invalid_argument: return "invalid_argument";
        case errc::parse_error: return "syntax_error";
        case errc::connect_failed: return "connect_failed";
        case errc::overloaded: return "overloaded";
        case errc::disconnected: return "disconnected";
        case errc::auth_failed: return "auth_failed";
        case errc::tls_failed: return "tls_failed";
        case errc::not_sent: return "not_sent";
        case errc::bind_failed: return "bind_failed";
    }
    return "error";
}

errc code_of(const rot::failure& f) {
    return f.code.category() == rot::category() ? static_cast<errc>(f.code.value()) : errc::exception;
}

/// True when the peer answered (it refused or failed the request), as
/// opposed to failures to reach it: the peer is there.
bool answered(const rot::failure& f) {
    const errc c = code_of(f);
    return c == errc::undef || c == errc::badarg || c == errc::exception || c == errc::bad_request;
}

/// {Code, "message"}.
term reason(const rot::failure& f) {
    return rot::tuple(atom(std::string(errc_name(code_of(f)))), term::make_string_lossy(f.message));
}

/// {error, {Code, "message"}}: how the API's own failures answer.
term error_answer(const rot::failure& f) { return rot::tuple(atom("error"), reason(f)); }

bool is_error_answer(const term& t) {
    return t.is_tuple() && !t.as_tuple().empty() && t.as_tuple()[0].is_atom("error");
}

std::string exception_text(std::string_view kind, std::string_view message) {
    if (kind == "interrupted") return fmt::format("** interrupted: {}", message);
    // These messages say what happened on their own; the others get their kind.
    static constexpr std::string_view plain[] = {"undef",   "badarg",  "exception", "badmatch",
                                                 "unbound", "badarith", "badkey",   "badmap"};
    if (std::find(std::begin(plain), std::end(plain), kind) != std::end(plain))
        return fmt::format("** exception error: {}", message);
    return fmt::format("** exception error: {}: {}", kind, message);
}

/// A name given as an atom or a string.
std::string name_of(const term& t, std::string_view what) {
    if (t.is_atom()) return t.atom_name();
    if (t.is_string()) return t.as_string();
    raise(errc::badarg, fmt::format("bad argument: {} must be an atom or a string, got {}", what, t));
}

std::int64_t int_of(const term& t, std::string_view what, std::int64_t lo, std::int64_t hi) {
    if (!t.is_int() || t.as_int() < lo || t.as_int() > hi)
        raise(errc::badarg, fmt::format("bad argument: {} must be an integer in {}..{}, got {}", what, lo, hi, t));
    return t.as_int();
}

/// A host or an IP address: a string, an atom, or a tuple as Erlang's inet
/// has them: {127,0,0,1}, {0,0,0,0,0,0,0,1}.
std::string ip_of(const term& t, std::string_view what) {
    if (t.is_tuple() && (t.as_tuple().size() == 4 || t.as_tuple().size() == 8)) {
        const bool v4 = t.as_tuple().size() == 4;
        std::vector<std::string> parts;
        for (const auto& part : t.as_tuple()) {
            const auto v = int_of(part, "an ip address part", 0, v4 ? 255 : 65535);
            parts.push_back(v4 ? fmt::format("{}", v) : fmt::format("{:x}", v));
        }
        return fmt::format("{}", fmt::join(parts, v4 ? "." : ":"));
    }
    return name_of(t, what);
}

/// call(Node, infinity) or a number of milliseconds.
std::chrono::milliseconds timeout_of(const term& t) {
    if (t.is_atom("infinity")) return forever;
    return std::chrono::milliseconds(int_of(t, "Timeout", 0, INT32_MAX));
}

/// {M, F, A} or {F, A}, as rot::mfa::from_term reads it, but M and F may be strings too.
rot::mfa mfa_of(const term& t) {
    if (!t.is_tuple()) return rot::mfa::from_term(t);  // which says what is wrong
    term::tuple_type items = t.as_tuple();
    for (std::size_t i = 0; i + 1 < items.size(); ++i)
        if (items[i].is_string()) items[i] = atom(items[i].as_string());
    return rot::mfa::from_term(term::make_tuple(std::move(items)));
}

/// Calls f(key, value) for each {Key, Value} of a proplist.
template <class F>
void each_option(const term& opts, F&& f) {
    if (!opts.is_list()) raise(errc::badarg, fmt::format("bad argument: options must be a list, got {}", opts));
    for (const auto& o : opts.as_list()) {
        if (!o.is_tuple() || o.as_tuple().size() != 2 || !o.as_tuple()[0].is_atom())
            raise(errc::badarg, fmt::format("bad argument: an option must be {{Key, Value}}, got {}", o));
        f(o.as_tuple()[0].atom_name(), o.as_tuple()[1]);
    }
}

[[noreturn]] void unknown_option(std::string_view key, const term& value) {
    raise(errc::badarg, fmt::format("bad argument: unknown option {{{}, {}}}", key, value));
}

std::string text_of(const term& t, std::string_view what) {
    if (t.is_string()) return t.as_string();
    if (t.is_atom()) return t.atom_name();
    if (t.is_binary()) return std::string(t.as_binary().begin(), t.as_binary().end());
    raise(errc::badarg, fmt::format("bad argument: {} must be a string, got {}", what, t));
}

bool bool_of(const term& t, std::string_view what) {
    if (t.is_atom("true")) return true;
    if (t.is_atom("false")) return false;
    raise(errc::badarg, fmt::format("bad argument: {} must be true or false, got {}", what, t));
}

/// TLS options as Erlang's ssl names them: certfile, keyfile, cacertfile,
/// verify (verify_peer | verify_none), fail_if_no_peer_cert; and ours,
/// check_node_name. False if `key` is none of them.
bool tls_option(std::string_view key, const term& v, rot::tls_options& tls) {
    if (key == "certfile") tls.certificate = text_of(v, "certfile");
    else if (key == "keyfile") tls.private_key = text_of(v, "keyfile");
    else if (key == "cacertfile") tls.ca = text_of(v, "cacertfile");
    else if (key == "verify") {
        if (!v.is_atom("verify_peer") && !v.is_atom("verify_none"))
            raise(errc::badarg, fmt::format("bad argument: verify must be verify_peer or verify_none, got {}", v));
        tls.verify_peer = v.is_atom("verify_peer");
    } else if (key == "fail_if_no_peer_cert") tls.require_peer_certificate = bool_of(v, "fail_if_no_peer_cert");
    else if (key == "check_node_name") tls.check_node_name = bool_of(v, "check_node_name");
    else return false;
    return true;
}

rot::transport transport_of(const term& v) {
    if (v.is_atom("tcp")) return rot::transport::tcp;
    if (v.is_atom("tls") || v.is_atom("ssl")) return rot::transport::tls;
    raise(errc::badarg, fmt::format("bad argument: transport must be tcp or tls, got {}", v));
}

rot::server_options server_options_of(const term& opts) {
    rot::server_options o;
    each_option(opts, [&](std::string_view key, const term& v) {
        if (key == "name") o.name = name_of(v, "name");
        else if (key == "port") o.port = static_cast<std::uint16_t>(int_of(v, "port", 0, 65535));
        else if (key == "ip") o.ip = ip_of(v, "ip");
        else if (key == "acceptors") o.acceptors = static_cast<unsigned>(int_of(v, "acceptors", 1, 1024));
        else if (key == "jail") o.jail = name_of(v, "jail");
        else if (key == "jails") {
            each_option(v, [&](std::string_view client, const term& module) {
                o.jails[std::string(client)] = name_of(module, "a jail");
            });
        } else if (key == "cookies") {
            each_option(v, [&](std::string_view client, const term& cookie) {
                o.cookies[std::string(client)] = text_of(cookie, "a cookie");
            });
        } else if (key == "transport") o.transport = transport_of(v);
        else if (key == "max_connections") o.max_connections = static_cast<std::size_t>(int_of(v, "max_connections", 1, 1 << 20));
        else if (key == "max_handshakes") o.max_handshakes = static_cast<std::size_t>(int_of(v, "max_handshakes", 1, 1 << 20));
        else if (key == "inline_handlers") o.inline_handlers = bool_of(v, "inline_handlers");
        else if (!tls_option(key, v, o.tls)) unknown_option(key, v);
    });
    return o;
}

rot::connect_options connect_options_of(const term& opts) {
    rot::connect_options o;
    each_option(opts, [&](std::string_view key, const term& v) {
        if (key == "name") o.name = name_of(v, "name");
        else if (key == "port") o.port = static_cast<std::uint16_t>(int_of(v, "port", 1, 65535));
        else if (key == "jail") o.jail = name_of(v, "jail");
        else if (key == "cookie") o.cookie = text_of(v, "cookie");
        else if (key == "server") o.server = name_of(v, "server");
        else if (key == "supervise") o.supervise = bool_of(v, "supervise");
        else if (key == "transport") o.transport = transport_of(v);
        else if (!tls_option(key, v, o.tls)) unknown_option(key, v);
    });
    return o;
}

term atoms(const std::vector<std::string>& names) {
    term::list_type out;
    for (const auto& n : names) out.emplace_back(atom(n));
    return term::make_list(std::move(out));
}

term atom_or_undefined(const std::string& s) { return s.empty() ? term() : term(atom(s)); }

term server_term(const rot::server_info& s) {
    term::list_type jails;
    for (const auto& [client, module] : s.jails) jails.push_back(rot::tuple(atom(client), atom(module)));
    return rot::map({{atom("name"), atom(s.name)},
                     {atom("ip"), s.ip},
                     {atom("port"), s.port},
                     {atom("acceptors"), s.acceptors},
                     {atom("jail"), atom_or_undefined(s.jail)},
                     {atom("jails"), term::make_list(std::move(jails))},
                     {atom("transport"), atom(s.transport == rot::transport::tls ? "tls" : "tcp")},
                     {atom("connections"), s.connections}});
}

term connection_term(const rot::connection_info& c) {
    return rot::map({{atom("peer"), atom(c.peer)},
                     {atom("node"), atom(c.peer_node)},
                     {atom("address"), c.remote_address},
                     {atom("accepted"), c.accepted},
                     {atom("server"), atom_or_undefined(c.server)},
                     {atom("jail"), atom_or_undefined(c.jail)},
                     {atom("transport"), atom(c.transport == rot::transport::tls ? "tls" : "tcp")},
                     {atom("pending"), c.calls_pending}});
}

/// A map from its keys and values in turn; a key given twice keeps its last
/// value, as in Erlang.
term map_of(std::vector<term> keys_and_values) {
    term::map_type entries;
    for (std::size_t i = 0; i + 1 < keys_and_values.size(); i += 2)
        entries.emplace_back(std::move(keys_and_values[i]), std::move(keys_and_values[i + 1]));
    std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    term::map_type unique;
    for (auto& e : entries) {
        if (!unique.empty() && unique.back().first == e.first) unique.back().second = std::move(e.second);
        else unique.push_back(std::move(e));
    }
    return term::make_map(std::move(unique));
}

/// Matches `value` against `pattern`: variables bound before (in `bound`)
/// must be equal, new ones go to `fresh` (so a failed match binds nothing).
bool match(const expr& pattern, const term& value, const bindings& bound, bindings& fresh) {
    const auto all = [&](const std::vector<expr>& ps, const std::vector<term>& vs, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i)
            if (!match(ps[i], vs[i], bound, fresh)) return false;
        return true;
    };
    switch (pattern.what) {
        case expr::kind::literal: return pattern.value == value;
        case expr::kind::variable: {
            if (pattern.name == "_") return true;
            if (const auto it = bound.find(pattern.name); it != bound.end()) return it->second == value;
            const auto [it, added] = fresh.try_emplace(pattern.name, value);
            return added || it->second == value;
        }
        case expr::kind::tuple:
            return value.is_tuple() && value.as_tuple().size() == pattern.items.size() &&
                   all(pattern.items, value.as_tuple(), pattern.items.size());
        case expr::kind::list: {
            if (!value.is_list()) return false;
            const auto& xs = value.as_list();
            const std::size_t heads = pattern.items.size() - (pattern.has_tail ? 1 : 0);
            if (pattern.has_tail ? xs.size() < heads : xs.size() != heads) return false;
            if (!all(pattern.items, xs, heads)) return false;
            return !pattern.has_tail ||
                   match(pattern.items.back(), term::make_list(term::list_type(xs.begin() + heads, xs.end())), bound,
                         fresh);
        }
        case expr::kind::map:
            if (!value.is_map()) return false;
            for (std::size_t i = 0; i < pattern.items.size(); i += 2) {
                const term* v = value.find(pattern.items[i].value);
                if (!v || !match(pattern.items[i + 1], *v, bound, fresh)) return false;
            }
            return true;
        case expr::kind::match:  // an alias, P1 = P2: both match
            return match(pattern.items[0], value, bound, fresh) && match(pattern.items[1], value, bound, fresh);
        case expr::kind::call:
        case expr::kind::op:
        case expr::kind::comprehension:
        case expr::kind::generator: break;  // not patterns: the parser lets none through
    }
    return false;
}

struct shell_function {
    std::string_view name;
    std::size_t arity;
};

const std::vector<shell_function>& shell_functions() {
    static const std::vector<shell_function> all = {
        {"start_server", 1}, {"stop_server", 1}, {"connect", 2},     {"connect", 3},    {"connect_link", 2},
        {"connect_link", 3}, {"connected", 0},   {"connected", 1},   {"connections", 0}, {"servers", 0},
        {"disconnect", 1},   {"call", 2},        {"call", 3},        {"cast", 2},       {"multicall", 2},
        {"multicall", 3},    {"ping", 1},        {"node", 0},        {"nodes", 0},      {"load_module", 1},
        {"modules", 0},      {"tc", 1},          {"f", 0},           {"f", 1},          {"b", 0},
        {"v", 1},            {"e", 1},           {"help", 0},        {"q", 0},
    };
    return all;
}

bool is_shell_function(std::string_view name, std::size_t arity) {
    const auto& all = shell_functions();
    return std::any_of(all.begin(), all.end(), [&](const auto& f) { return f.name == name && f.arity == arity; });
}

/// What an Erlang user types for what the shell has.
struct alias {
    std::string_view module;
    std::string_view function;
    std::size_t arity;
    std::string_view shell_function;
};

// The rpc ones take Node(s), M, F, A[, Timeout] where the shell's take
// Node(s), {M, F, A}[, Timeout].
constexpr alias aliases[] = {
    {"erlang", "node", 0, "node"},        {"erlang", "nodes", 0, "nodes"},
    {"net_adm", "ping", 1, "ping"},       {"rpc", "call", 4, "call"},
    {"rpc", "call", 5, "call"},           {"rpc", "cast", 4, "cast"},
    {"rpc", "multicall", 4, "multicall"}, {"rpc", "multicall", 5, "multicall"},
};

const alias* find_alias(std::string_view module, std::string_view function, std::size_t arity) {
    for (const auto& a : aliases)
        if (a.module == module && a.function == function && a.arity == arity) return &a;
    return nullptr;
}

}  // namespace

std::string exception_line(const rot::failure& f) { return exception_text(errc_name(code_of(f)), f.message); }

std::vector<std::string> split_expressions(std::string_view input) {
    auto s = split_statements(input);
    if (!s.rest.empty()) s.ended.push_back(std::move(s.rest));
    return std::move(s.ended);
}

shell::shell(rot::node& node, std::function<void(std::string_view)> say)
    : shell(node, std::move(say), settings{}) {}

shell::shell(rot::node& node, std::function<void(std::string_view)> say, settings s)
    : node_(node),
      say_(std::move(say)),
      settings_(s),
      call_timeout_(s.call_timeout.value_or(node.options().call_timeout)) {}

bool shell::is_complete(std::string_view text) { return split_statements(text).rest.empty(); }

const std::vector<std::string>& shell::help_lines() {
    static const std::vector<std::string> lines = {
        "start_server(Opts)          start a server; Opts: [{name, srv}, {port, 2222}, {ip, \"0.0.0.0\"},",
        "                            {acceptors, 10}, {jail, Module}, {jails, [{Client, Module}]},",
        "                            {cookies, [{Client, \"secret\"}]}, {transport, tls}, {certfile, F},",
        "                            {keyfile, F}, {cacertfile, F}, {fail_if_no_peer_cert, true}]",
        "stop_server(Name)           stop a server and close its connections",
        "connect(Host, Opts)         dial 4 connections; Host: localhost, \"10.0.0.1\", {127,0,0,1};",
        "                            Opts: [{name, cl}, {port, 2222}, {jail, Module}, {cookie, \"secret\"},",
        "                            {transport, tls}, {cacertfile, F}, {verify, verify_peer}]",
        "connect(Host, Opts, N)      dial N connections",
        "connect_link(Host, Opts[, N]) a pool kept up: lost connections are dialed again, with",
        "                            backoff, until disconnect(); {server, Name} lets it start first",
        "connected()                 the names of connected peers",
        "connected(Node)             the number of connections to Node",
        "connections()               every connection, as maps",
        "servers()                   every server, as maps",
        "disconnect(Name)            say goodbye to a peer and close its connections",
        "call(Node, {M, F, A})       call M:F(A...) on Node and wait (the call timeout)",
        "call(Node, {M, F, A}, Ms)   the same with a timeout in milliseconds (or infinity)",
        "call(Node, {F, A})          call F(A...) where Node's server jails us to a module",
        "cast(Node, {M, F, A})       send M:F(A...) to Node without waiting",
        "multicall(Nodes, {M, F, A}[, Ms]) call every node at once: {[Result], [BadNode]}",
        "ping(Node)                  pong if Node answers, else pang",
        "node()                      this node's name",
        "nodes()                     the connected nodes, but this one",
        "M:F(A...)                   call this node's own module M (math:add(1, 2), rot:memory());",
        "                            erlang:node(), net_adm:ping(N), rpc:call(N, M, F, A) and",
        "                            rpc:multicall(Ns, M, F, A) are the shell's functions",
        "load_module(Path)           load a plugin module into this node",
        "modules()                   the modules this node exports",
        "Pattern = Expr              match, binding the pattern's unbound variables",
        "A + B, A == B, A ++ B ...   erl's operators (docs/SHELL.md, \"Operators\")",
        "length(L), lists:seq(A, B)  erl's pure built-ins, lists and maps too (docs/SHELL.md)",
        "[E || X <- List, Filter]    a list comprehension",
        "tc(Expr)                    {Microseconds, Value}: the time Expr takes",
        "b()                         the bindings",
        "f(), f(X)                   forget every binding, or X",
        "v(N), e(N)                  the value of statement N, or evaluate it again (N < 0: back)",
        "help()                      this list",
        "q()                         stop the node and quit",
    };
    return lines;
}

std::vector<outcome> shell::eval(std::string_view input) {
    interrupted_.store(false, std::memory_order_relaxed);
    std::vector<outcome> out;
    for (const auto& text : split_expressions(input)) {
        out.push_back(eval_statement(text));
        if (out.back().quit) break;
    }
    return out;
}

outcome shell::failed(std::string_view kind, std::string_view message) const {
    outcome o;
    o.line = settings_.json ? json_error(kind, message) : exception_text(kind, message);
    o.ok = false;
    o.interrupted = kind == "interrupted";
    return o;
}

outcome shell::eval_statement(const std::string& text) {
    statement s;
    try {
        s = parse_statement(text);
    } catch (const rot::error& e) {
        return failed(errc_name(errc::parse_error), e.message());
    }
    current_ = ++evaluated_;
    quit_ = false;
    built_ = 0;
    past record{current_, text, std::nullopt};
    outcome o;
    try {
        // A statement that raises binds nothing, as in erl.
        bindings working = bindings_;
        term value = run(s, working);
        bindings_ = std::move(working);
        o.line = show(value);
        o.ok = !is_error_answer(value);
        o.quit = quit_;
        record.value = std::move(value);
    } catch (const shell_error& e) {
        o = failed(e.kind(), e.what());
    } catch (const rot::error& e) {
        o = failed(errc_name(code_of(e.to_failure())), e.message());
    } catch (const std::exception& e) {
        o = failed(errc_name(errc::exception), e.what());
    }
    history_.push_back(std::move(record));
    if (history_.size() > history_limit) history_.pop_front();
    return o;
}

std::string shell::show(const term& value) const {
    if (!settings_.json) return pretty(value, settings_.width);
    if (!is_error_answer(value)) return to_json(value);
    // {error, {Kind, "message"}}, as the API's failures answer, keeps its
    // parts; another reason is given as its text.
    const auto& t = value.as_tuple();
    if (t.size() == 2 && t[1].is_tuple() && t[1].as_tuple().size() == 2 && t[1].as_tuple()[0].is_atom() &&
        t[1].as_tuple()[1].is_string())
        return json_error(t[1].as_tuple()[0].atom_name(), t[1].as_tuple()[1].as_string());
    return json_error("error", rot::to_string(t.size() == 2 ? t[1] : value));
}

term shell::run(const statement& s, bindings& b) {
    term value;
    for (const auto& e : s) value = evaluate(e, b);
    return value;
}

std::vector<term> shell::evaluate_all(const std::vector<expr>& es, bindings& b) {
    std::vector<term> out;
    out.reserve(es.size());
    for (const auto& e : es) out.push_back(evaluate(e, b));
    return out;
}

term shell::evaluate(const expr& e, bindings& b) {
    switch (e.what) {
        case expr::kind::literal: return e.value;
        case expr::kind::variable: {
            const auto it = b.find(e.name);
            if (it == b.end()) throw shell_error("unbound", fmt::format("variable '{}' is unbound", e.name));
            return it->second;
        }
        case expr::kind::tuple: return term::make_tuple(evaluate_all(e.items, b));
        case expr::kind::list: {
            auto items = evaluate_all(e.items, b);
            if (e.has_tail) {
                term tail = std::move(items.back());
                items.pop_back();
                if (!tail.is_list())
                    raise(errc::badarg,
                          fmt::format("bad argument: the tail of a list must be a list (terms have no improper "
                                      "lists), got {}",
                                      tail));
                auto& rest = tail.as_list();
                items.insert(items.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
            }
            return term::make_list(std::move(items));
        }
        case expr::kind::map: return map_of(evaluate_all(e.items, b));
        case expr::kind::call: return call(e, b);
        case expr::kind::op: {
            if (e.items.size() == 1) return unary_operation(e.name, evaluate(e.items[0], b));
            term left = evaluate(e.items[0], b);
            // andalso and orelse evaluate their right side only when it decides.
            if (e.name == "andalso" || e.name == "orelse") {
                if (!left.is_atom("true") && !left.is_atom("false"))
                    throw shell_error("badarg", fmt::format("bad argument in operator {}/2: {} {} ...", e.name,
                                                            left, e.name));
                if (left.is_atom(e.name == "andalso" ? "false" : "true")) return left;
                return evaluate(e.items[1], b);
            }
            return binary_operation(e.name, left, evaluate(e.items[1], b));
        }
        case expr::kind::comprehension: {
            term::list_type out;
            comprehend(e, 1, b, out);
            return term::make_list(std::move(out));
        }
        case expr::kind::generator: break;  // only inside a comprehension
        case expr::kind::match: {
            term value = evaluate(e.items[1], b);
            bindings fresh;
            if (!match(e.items[0], value, b, fresh))
                throw shell_error("badmatch", fmt::format("no match of right hand side value {}", value));
            b.merge(fresh);
            return value;
        }
    }
    raise(errc::exception, "unknown expression");
}

namespace {

/// Whether evaluating `e` may bind variables (it holds a match).
bool binds(const expr& e) {
    if (e.what == expr::kind::match) return true;
    return std::any_of(e.items.begin(), e.items.end(), binds) || std::any_of(e.callee.begin(), e.callee.end(), binds);
}

/// Whether `e` is a guard expression in erl's sense (operators, type tests
/// and the like on values): as a filter, its failure counts as false.
bool is_guard(const expr& e) {
    switch (e.what) {
        case expr::kind::literal:
        case expr::kind::variable:
        case expr::kind::tuple:
        case expr::kind::list:
        case expr::kind::map:
        case expr::kind::op: break;
        case expr::kind::call: {
            static constexpr std::string_view guard_bifs[] = {
                "abs",        "byte_size", "element",   "float",      "hd",         "is_atom",   "is_binary",
                "is_boolean", "is_float",  "is_integer", "is_list",   "is_map",     "is_map_key", "is_number",
                "is_tuple",   "length",    "map_get",   "map_size",   "max",        "min",       "round",
                "tl",         "trunc",     "tuple_size"};
            const expr& f = e.callee.back();
            const bool erlang = e.callee.size() == 1 || (e.callee[0].what == expr::kind::literal &&
                                                         e.callee[0].value.is_atom("erlang"));
            if (!erlang || f.what != expr::kind::literal || !f.value.is_atom() ||
                std::find(std::begin(guard_bifs), std::end(guard_bifs), f.value.atom_name()) == std::end(guard_bifs))
                return false;
            break;
        }
        case expr::kind::match:
        case expr::kind::comprehension:
        case expr::kind::generator: return false;
    }
    return std::all_of(e.items.begin(), e.items.end(), is_guard);
}

/// Names bound while it lives are unbound when it ends (exceptions too), and
/// names it binds itself get their earlier values back: a comprehension's
/// variables are its own, without copying the bindings around it.
class binding_scope {
public:
    explicit binding_scope(bindings& b, bool watch = true) : b_(b) {
        if (watch)
            for (const auto& kv : b_) before_.push_back(kv.first);
        watching_ = watch;
    }
    binding_scope(const binding_scope&) = delete;
    binding_scope& operator=(const binding_scope&) = delete;
    ~binding_scope() {
        for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
            if (it->second) b_.insert_or_assign(it->first, std::move(*it->second));
            else b_.erase(it->first);
        }
        if (watching_)
            std::erase_if(b_, [&](const auto& kv) {
                return !std::binary_search(before_.begin(), before_.end(), kv.first);
            });
    }
    /// Binds `name` for the scope's life, shadowing what it was.
    void bind(const std::string& name, term value) {
        if (const auto it = b_.find(name); it != b_.end()) {
            saved_.emplace_back(name, std::move(it->second));
            it->second = std::move(value);
        } else {
            saved_.emplace_back(name, std::nullopt);
            b_.emplace(name, std::move(value));
        }
    }

private:
    bindings& b_;
    bool watching_ = false;
    std::vector<std::string> before_;  // sorted, as the map's keys
    std::vector<std::pair<std::string, std::optional<term>>> saved_;
};

/// How much a value costs to build: its terms, strings and binaries by 64 bytes.
std::size_t weight(const term& t) {
    switch (t.type()) {
        case rot::kind::list: {
            std::size_t w = 1;
            for (const auto& x : t.as_list()) w += weight(x);
            return w;
        }
        case rot::kind::tuple: {
            std::size_t w = 1;
            for (const auto& x : t.as_tuple()) w += weight(x);
            return w;
        }
        case rot::kind::map: {
            std::size_t w = 1;
            for (const auto& [k, v] : t.as_map()) w += weight(k) + weight(v);
            return w;
        }
        case rot::kind::string: return 1 + t.as_string().size() / 64;
        case rot::kind::binary: return 1;  // shared, not copied
        default: return 1;
    }
}

}  // namespace

void shell::comprehend(const expr& e, std::size_t next, bindings& b, term::list_type& out) {
    if (interrupted_.load(std::memory_order_relaxed)) throw shell_error("interrupted", "gave up a list comprehension");
    if (next == e.items.size()) {
        binding_scope scope(b, binds(e.items[0]));
        term value = evaluate(e.items[0], b);
        // One budget for the statement: nested comprehensions and values
        // copied into each element count too.
        built_ += weight(value);
        if (built_ > max_comprehension)
            raise(errc::badarg, fmt::format("bad argument: list comprehensions building more than {} terms",
                                            max_comprehension));
        out.push_back(std::move(value));
        return;
    }
    const expr& q = e.items[next];
    if (q.what != expr::kind::generator) {
        // A filter's bindings hold for the rest of this turn.
        binding_scope scope(b, binds(q));
        const bool guard = is_guard(q);
        term keep;
        try {
            keep = evaluate(q, b);
        } catch (const shell_error& x) {
            if (!guard || x.kind() == "interrupted") throw;
            return;  // a guard that fails is false, as in erl
        } catch (const rot::error&) {
            if (!guard) throw;
            return;
        }
        if (keep.is_atom("true")) return comprehend(e, next + 1, b, out);
        if (!keep.is_atom("false") && !guard)
            throw shell_error("badarg", fmt::format("bad filter: {} is not a boolean", keep));
        return;
    }
    term list;
    {
        binding_scope scope(b, binds(q.items[1]));
        list = evaluate(q.items[1], b);
    }
    if (!list.is_list()) throw shell_error("badarg", fmt::format("bad generator: {} is not a list", list));
    for (const auto& x : list.as_list()) {
        // A generator's pattern binds afresh, shadowing variables of the same name.
        bindings none;
        bindings fresh;
        if (!match(q.items[0], x, none, fresh)) continue;  // what does not match is skipped, as in erl
        binding_scope scope(b, false);
        for (auto& [name, value] : fresh) scope.bind(name, std::move(value));
        comprehend(e, next + 1, b, out);
    }
}

term shell::call(const expr& e, bindings& b) {
    if (e.callee.size() == 1) return shell_call(e.callee[0].value.atom_name(), e.items, b);
    const auto name = [&](const expr& x, std::string_view what) {
        const term t = evaluate(x, b);
        if (!t.is_atom()) raise(errc::badarg, fmt::format("bad argument: a {} must be an atom, got {}", what, t));
        return t.atom_name();
    };
    const std::string module = name(e.callee[0], "module");
    const std::string function = name(e.callee[1], "function");
    const std::size_t arity = e.items.size();
    if (module == "rot" && is_shell_function(function, arity)) return shell_call(function, e.items, b);
    auto args = evaluate_all(e.items, b);
    if (const alias* a = find_alias(module, function, arity)) {
        if (module == "rpc") {
            term request = rot::tuple(std::move(args[1]), std::move(args[2]), std::move(args[3]));
            args.erase(args.begin() + 1, args.begin() + 4);
            args.insert(args.begin() + 1, std::move(request));
        }
        return apply(a->shell_function, args, b);
    }
    // The shell's lists and maps stand in until the node has modules of those names.
    const auto has_module = [&](const std::string& m) {
        const auto mine = node_.modules();
        return std::find(mine.begin(), mine.end(), m) != mine.end();
    };
    if (is_builtin(module, function, arity) && (module == "erlang" || !has_module(module)))
        return call_builtin(module, function, args);
    return local_call({module, function, std::move(args)}, call_timeout_);
}

term shell::shell_call(std::string_view function, const std::vector<expr>& args, bindings& b) {
    // tc/1 times its argument's evaluation, and f/1's names a variable that
    // may be unbound: neither is evaluated first.
    if (function == "tc" && args.size() == 1) {
        const auto start = std::chrono::steady_clock::now();
        term value = evaluate(args[0], b);
        const auto took = std::chrono::steady_clock::now() - start;
        return rot::tuple(std::chrono::duration_cast<std::chrono::microseconds>(took).count(), std::move(value));
    }
    if (function == "f" && args.size() == 1) {
        if (args[0].what != expr::kind::variable)
            raise(errc::badarg, "bad argument: f/1 forgets a variable, as in f(X)");
        b.erase(args[0].name);
        return atom("ok");
    }
    return apply(function, evaluate_all(args, b), b);
}

term shell::apply(std::string_view f, const std::vector<term>& a, bindings& b) {
    const std::size_t n = a.size();
    const auto is = [&](std::string_view name, std::size_t arity) { return f == name && n == arity; };

    if (is("call", 2) || is("call", 3)) {
        const auto peer = name_of(a[0], "Node");
        const auto timeout = n == 3 ? timeout_of(a[2]) : call_timeout_;
        return await_one(peer, mfa_of(a[1]), timeout);
    }
    if (is("cast", 2)) {
        node_.try_cast(name_of(a[0], "Node"), mfa_of(a[1])).value();
        return atom("ok");
    }
    if (is("multicall", 2) || is("multicall", 3)) {
        if (!a[0].is_list()) raise(errc::badarg, fmt::format("bad argument: Nodes must be a list, got {}", a[0]));
        std::vector<std::string> peers;
        for (const auto& x : a[0].as_list()) peers.push_back(name_of(x, "a node"));
        auto results = await(peers, mfa_of(a[1]), n == 3 ? timeout_of(a[2]) : call_timeout_);
        // As rpc:multicall: a node that answered with an error gives {badrpc, Reason}; one that could not be
        // reached is a bad node.
        term::list_type good, bad;
        for (std::size_t i = 0; i < peers.size(); ++i) {
            if (results[i]) good.push_back(std::move(results[i]).value());
            else if (answered(results[i].error()))
                good.push_back(rot::tuple(atom("badrpc"), reason(results[i].error())));
            else bad.emplace_back(atom(peers[i]));
        }
        return rot::tuple(term::make_list(std::move(good)), term::make_list(std::move(bad)));
    }
    if (is("ping", 1)) {
        const auto peer = name_of(a[0], "Node");
        if (peer == node_.name()) return atom("pong");  // this node is alive, as net_adm:ping(node()) says
        const auto r = await({peer}, {"rot", "ping", {}}, call_timeout_);
        // Any answer proves the node is there, a jail's "undefined function" too.
        return atom(r[0] || answered(r[0].error()) ? "pong" : "pang");
    }
    if (is("start_server", 1)) {
        try {
            return rot::tuple(atom("ok"), atom(node_.start_server(server_options_of(a[0])).name));
        } catch (const rot::error& e) {
            if (e.code() == errc::badarg) throw;
            return error_answer(e.to_failure());
        }
    }
    if (is("stop_server", 1)) {
        const auto name = name_of(a[0], "Name");
        if (node_.stop_server(name)) return atom("ok");
        return error_answer({rot::make_error_code(errc::invalid_argument), fmt::format("no server named {}", name)});
    }
    if (is("connect", 2) || is("connect", 3) || is("connect_link", 2) || is("connect_link", 3)) {
        const auto host = ip_of(a[0], "Host");
        auto opts = connect_options_of(a[1]);
        opts.supervise = opts.supervise || f == "connect_link";
        const auto count = n == 3 ? int_of(a[2], "N", 1, 1024) : 4;
        auto r = node_.try_connect(host, opts, static_cast<std::size_t>(count));
        if (!r) return error_answer(r.error());
        return rot::tuple(atom("ok"), atom(*r));
    }
    if (is("connected", 0)) return atoms(node_.connected());
    if (is("connected", 1)) return node_.connected(name_of(a[0], "Node"));
    if (is("node", 0)) return atom(node_.name());
    if (is("nodes", 0)) return atoms(other_nodes());
    if (is("connections", 0)) {
        term::list_type out;
        for (const auto& c : node_.connections()) out.push_back(connection_term(c));
        return term::make_list(std::move(out));
    }
    if (is("servers", 0)) {
        term::list_type out;
        for (const auto& s : node_.servers()) out.push_back(server_term(s));
        return term::make_list(std::move(out));
    }
    if (is("disconnect", 1)) {
        const auto name = name_of(a[0], "Name");
        if (node_.disconnect(name)) return atom("ok");
        return error_answer({rot::make_error_code(errc::not_connected), fmt::format("not connected to {}", name)});
    }
    if (is("load_module", 1)) {
        auto r = node_.load_module(name_of(a[0], "Path"));
        if (!r) return error_answer(r.error());
        return rot::tuple(atom("ok"), atoms(*r));
    }
    if (is("modules", 0)) return atoms(node_.modules());
    if (is("f", 0)) {
        b.clear();
        return atom("ok");
    }
    if (is("b", 0)) {
        if (say_)
            for (const auto& [name, value] : b) say_(fmt::format("{} = {}", name, value));
        return atom("ok");
    }
    if (is("v", 1)) {
        const past& p = history(a[0]);
        if (!p.value)
            raise(errc::badarg,
                  fmt::format("bad argument: statement {} raised an exception: it has no value", p.number));
        return *p.value;
    }
    if (is("e", 1)) return reevaluate(history(a[0]), b);
    if (is("help", 0)) {
        if (say_)
            for (const auto& line : help_lines()) say_(line);
        return atom("ok");
    }
    if (is("q", 0)) {
        quit_ = true;
        return atom("ok");
    }
    if (is_builtin("erlang", f, n)) return call_builtin("erlang", f, a);
    raise(errc::undef, fmt::format("undefined shell command {}/{}", f, n));
}

const shell::past& shell::history(const term& n) const {
    const std::int64_t i = int_of(n, "N", INT64_MIN, INT64_MAX);
    // Negative N counts back from the statement being evaluated: v(-1) is
    // the one before. Only earlier statements count, so e(N) never loops.
    std::size_t number = current_;
    if (i > 0) {
        number = static_cast<std::size_t>(i);
    } else {
        const std::uint64_t back = 0 - static_cast<std::uint64_t>(i);  // |i|, INT64_MIN included
        if (back < current_) number = current_ - static_cast<std::size_t>(back);
    }
    if (number < current_)
        for (const auto& p : history_)
            if (p.number == number) return p;
    raise(errc::badarg,
          fmt::format("bad argument: no statement {} before this one in the history (it keeps the last {})", n,
                      history_limit));
}

term shell::reevaluate(const past& p, bindings& b) {
    // Its text parsed when it ran. Relative numbers in it count from where
    // it stands, not from here.
    const statement s = parse_statement(p.text);
    const std::size_t here = std::exchange(current_, p.number);
    try {
        term value = run(s, b);
        current_ = here;
        return value;
    } catch (...) {
        current_ = here;
        throw;
    }
}

std::vector<rot::result<term>> shell::await(const std::vector<std::string>& peers, const rot::mfa& request,
                                            std::chrono::milliseconds timeout) {
    // Shared with the completions, so that a reply after we gave up lands
    // here harmlessly.
    struct gather {
        std::mutex mutex;
        std::condition_variable done;
        std::vector<std::optional<rot::result<term>>> results;
        std::size_t left = 0;
    };
    auto g = std::make_shared<gather>();
    g->results.resize(peers.size());
    g->left = peers.size();
    for (std::size_t i = 0; i < peers.size(); ++i) {
        rot::async_call(node_, peers[i], request, timeout, [g, i](std::error_code ec, term value) {
            std::lock_guard lock(g->mutex);
            if (ec) g->results[i].emplace(rot::failure{ec, value.is_string() ? value.as_string() : ec.message()});
            else g->results[i].emplace(std::move(value));
            if (--g->left == 0) g->done.notify_all();
        });
    }
    std::unique_lock lock(g->mutex);
    while (!g->done.wait_for(lock, interrupt_poll, [&] { return g->left == 0; })) {
        if (!interrupted_.load(std::memory_order_relaxed)) continue;
        std::vector<std::string> waiting;
        for (std::size_t i = 0; i < peers.size(); ++i)
            if (!g->results[i]) waiting.push_back(peers[i]);
        throw shell_error("interrupted", fmt::format("gave up waiting for {}", fmt::join(waiting, ", ")));
    }
    std::vector<rot::result<term>> out;
    out.reserve(peers.size());
    for (auto& r : g->results) out.push_back(std::move(*r));
    return out;
}

term shell::await_one(const std::string& peer, const rot::mfa& request, std::chrono::milliseconds timeout) {
    auto r = await({peer}, request, timeout);
    return std::move(r[0]).value();
}

// As Erlang's rpc:call(node(), ...): a call to this node's own name runs
// here (rot::node does that when no peer goes by the name), on its handler pool.
term shell::local_call(const rot::mfa& request, std::chrono::milliseconds timeout) {
    return await_one(node_.name(), request, timeout);
}

// Erlang's nodes(): the connected nodes, but this one (which a node connected
// to itself also is).
std::vector<std::string> shell::other_nodes() const {
    auto names = node_.connected();
    const auto conns = node_.connections();
    std::erase_if(names, [&](const std::string& peer) {
        return std::any_of(conns.begin(), conns.end(), [&](const rot::connection_info& c) {
            return c.peer == peer && c.peer_node == node_.name();
        });
    });
    return names;
}

std::vector<std::string> shell::remote_names(std::string_view peer, std::string_view module) {
    std::vector<std::string> out;
    const auto r = module.empty() ? node_.try_call(peer, {"rot", "modules", {}}, completion_timeout)
                                  : node_.try_call(peer, {"rot", "exports", {atom(std::string(module))}},
                                                   completion_timeout);
    if (!r || !r->is_list()) return out;
    for (const auto& x : r->as_list()) {
        if (x.is_atom()) out.push_back(x.atom_name());
        else if (x.is_tuple() && !x.as_tuple().empty() && x.as_tuple()[0].is_atom())
            out.push_back(x.as_tuple()[0].atom_name());
    }
    return out;
}

std::vector<std::string> shell::complete(std::string_view line, std::size_t start, std::size_t end) {
    const std::string before(line.substr(0, start));
    const std::string word(line.substr(start, end - start));
    std::vector<std::string> candidates;

    // Inside call(Peer, {Module, Function...: ask Peer what it has.
    static const std::regex module_slot(R"((?:call|cast)\(\s*'?([^\s,']+)'?\s*,\s*\{\s*$)");
    static const std::regex function_slot(R"((?:call|cast)\(\s*'?([^\s,']+)'?\s*,\s*\{\s*([a-z][A-Za-z0-9_]*)\s*,\s*$)");
    std::smatch m;
    if (std::regex_search(before, m, function_slot)) {
        candidates = remote_names(m[1].str(), m[2].str());
    } else if (std::regex_search(before, m, module_slot)) {
        candidates = remote_names(m[1].str(), "");
    } else if (const auto colon = word.find(':'); colon != std::string::npos) {
        // Module:Function runs here: the shell's own (rot:), the aliases, and
        // this node's modules.
        const std::string module = word.substr(0, colon);
        std::vector<std::string> functions;
        if (module == "rot")
            for (const auto& fn : shell_functions()) functions.emplace_back(fn.name);
        for (const auto& a : aliases)
            if (a.module == module) functions.emplace_back(a.function);
        if (has_builtins(module))
            for (const auto name : builtin_names(module)) functions.emplace_back(name);
        const auto modules = node_.modules();
        if (std::find(modules.begin(), modules.end(), module) != modules.end())
            for (auto& fn : remote_names(node_.name(), module)) functions.push_back(std::move(fn));
        for (const auto& fn : functions) candidates.push_back(module + ":" + fn);
    } else {
        for (const auto& fn : shell_functions()) candidates.emplace_back(fn.name);
        for (const auto name : builtin_names("erlang")) candidates.emplace_back(name);
        for (const auto& peer : node_.connected()) candidates.push_back(peer);
    }
    std::erase_if(candidates, [&](const std::string& c) { return c.rfind(word, 0) != 0; });
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    return candidates;
}

}  // namespace rotsh
