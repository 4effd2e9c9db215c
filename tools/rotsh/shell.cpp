#include "shell.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <regex>

namespace rotsh {

using rot::atom;
using rot::errc;
using rot::term;
using namespace std::chrono_literals;

namespace {

// Completion asks peers; a slow peer must not freeze the prompt.
constexpr auto completion_timeout = 300ms;

[[noreturn]] void raise(errc code, std::string message) { throw rot::error(code, message); }

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

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
    }
    return "error";
}

errc code_of(const rot::failure& f) {
    return f.code.category() == rot::category() ? static_cast<errc>(f.code.value()) : errc::exception;
}

/// {error, {Code, "message"}}: how the API's own failures answer.
term error_answer(const rot::failure& f) {
    return rot::tuple(atom("error"), rot::tuple(atom(std::string(errc_name(code_of(f)))), f.message));
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

/// An IP address as a string, an atom or a tuple such as {127,0,0,1}.
std::string ip_of(const term& t) {
    if (t.is_tuple() && t.as_tuple().size() == 4) {
        std::string out;
        for (const auto& part : t.as_tuple())
            out += (out.empty() ? "" : ".") + std::to_string(int_of(part, "an ip address part", 0, 255));
        return out;
    }
    return name_of(t, "ip");
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
        else if (key == "ip") o.ip = ip_of(v);
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

// Parse errors point into the wrapped text "[...]"; move them back to the expression.
[[noreturn]] void reraise_shifted(const rot::error& e, std::size_t offset) {
    static const std::regex where(R"(^(\d+):(\d+): ([\s\S]*)$)");
    std::smatch m;
    const std::string& msg = e.message();
    if (std::regex_match(msg, m, where) && m[1] == "1") {
        const long column = std::stol(m[2]) - 1 + static_cast<long>(offset);
        raise(errc::parse_error, fmt::format("1:{}: {}", std::max(1L, column), m[3].str()));
    }
    throw e;
}

struct shell_function {
    std::string_view name;
    std::size_t arity;
};

const std::vector<shell_function>& shell_functions() {
    static const std::vector<shell_function> all = {
        {"start_server", 1}, {"stop_server", 1}, {"connect", 2},    {"connect", 3},
        {"connect_link", 2}, {"connect_link", 3}, {"connected", 0},   {"connected", 1},  {"connections", 0},
        {"servers", 0},      {"disconnect", 1},  {"call", 2},       {"call", 3},
        {"cast", 2},         {"load_module", 1}, {"modules", 0},    {"help", 0},
        {"q", 0},
    };
    return all;
}

}  // namespace

std::string exception_line(const rot::failure& f) {
    const errc code = code_of(f);
    // These messages say what happened on their own; the others get their kind.
    const bool self_explanatory =
        code == errc::undef || code == errc::badarg || code == errc::exception || code == errc::not_connected;
    return self_explanatory ? "** exception error: " + f.message
                            : fmt::format("** exception error: {}: {}", errc_name(code), f.message);
}

std::vector<std::string> split_expressions(std::string_view input) {
    std::vector<std::string> out;
    std::string current;
    const auto flush = [&] {
        const auto t = trim(current);
        if (!t.empty()) out.emplace_back(t);
        current.clear();
    };
    for (std::size_t i = 0; i < input.size(); ++i) {
        const char c = input[i];
        if (c == '"' || c == '\'') {
            // Copy the quoted text whole, escapes included.
            current += c;
            for (++i; i < input.size(); ++i) {
                current += input[i];
                if (input[i] == '\\' && i + 1 < input.size()) current += input[++i];
                else if (input[i] == c) break;
            }
        } else if (c == '$' && i + 1 < input.size()) {
            current += c;
            current += input[++i];
            if (input[i] == '\\' && i + 1 < input.size()) current += input[++i];
        } else if (c == '%') {
            while (i < input.size() && input[i] != '\n') ++i;
            current += '\n';
        } else if (c == '.' && (i + 1 == input.size() || std::isspace(static_cast<unsigned char>(input[i + 1])) ||
                                input[i + 1] == '%')) {
            flush();
        } else {
            current += c;
        }
    }
    flush();
    return out;
}

shell::shell(rot::node& node, std::function<void(std::string_view)> say) : node_(node), say_(std::move(say)) {}

const std::vector<std::string>& shell::help_lines() {
    static const std::vector<std::string> lines = {
        "start_server(Opts)          start a server; Opts: [{name, srv}, {port, 2222}, {ip, \"0.0.0.0\"},",
        "                            {acceptors, 10}, {jail, Module}, {jails, [{Client, Module}]},",
        "                            {cookies, [{Client, \"secret\"}]}, {transport, tls}, {certfile, F},",
        "                            {keyfile, F}, {cacertfile, F}, {fail_if_no_peer_cert, true}]",
        "stop_server(Name)           stop a server and close its connections",
        "connect(Host, Opts)         dial 4 connections; Opts: [{name, cl}, {port, 2222}, {jail, Module},",
        "                            {cookie, \"secret\"}, {transport, tls}, {cacertfile, F}, {verify, verify_peer}]",
        "connect(Host, Opts, N)      dial N connections",
        "connect_link(Host, Opts[, N]) a pool kept up: lost connections are dialed again, with",
        "                            backoff, until disconnect(); {server, Name} lets it start first",
        "connected()                 the names of connected peers",
        "connected(Node)             the number of connections to Node",
        "connections()               every connection, as maps",
        "servers()                   every server, as maps",
        "disconnect(Name)            say goodbye to a peer and close its connections",
        "call(Node, {M, F, A})       call M:F(A...) on Node and wait (5000 ms)",
        "call(Node, {M, F, A}, Ms)   the same with a timeout in milliseconds",
        "call(Node, {F, A})          call F(A...) where Node's server jails us to a module",
        "cast(Node, {M, F, A})       send M:F(A...) to Node without waiting",
        "load_module(Path)           load a plugin module into this node",
        "modules()                   the modules this node exports",
        "help()                      this list",
        "q()                         stop the node and quit",
    };
    return lines;
}

std::vector<outcome> shell::eval(std::string_view input) {
    std::vector<outcome> out;
    for (const auto& expr : split_expressions(input)) {
        out.push_back(eval_one(expr));
        if (out.back().quit) break;
    }
    return out;
}

outcome shell::eval_one(std::string_view expr) {
    try {
        // A call looks like [rot:]name(Args...); anything else is a term, which evaluates to itself.
        static const std::regex call_head(R"(^(?:rot\s*:\s*)?([a-z][A-Za-z0-9_]*)\s*\()");
        const std::string text(expr);
        std::smatch m;
        if (!std::regex_search(text, m, call_head)) return {fmt::format("{}", rot::parse_term(expr))};
        const std::string function = m[1];
        const std::size_t open = static_cast<std::size_t>(m.length(0));
        if (text.back() != ')')
            raise(errc::parse_error, fmt::format("1:{}: expected ')' to end the call of {}", text.size() + 1, function));
        term args;
        try {
            args = rot::parse_term("[" + text.substr(open, text.size() - open - 1) + "]");
        } catch (const rot::error& e) {
            reraise_shifted(e, open);
        }
        term answer = apply(function, args.as_list());
        const bool failed = answer.is_tuple() && !answer.as_tuple().empty() && answer.as_tuple()[0].is_atom("error");
        return {fmt::format("{}", answer), !failed, function == "q"};
    } catch (const rot::error& e) {
        return {exception_line(e.to_failure()), false};
    } catch (const std::exception& e) {
        return {exception_line({rot::make_error_code(errc::exception), e.what()}), false};
    }
}

term shell::apply(std::string_view f, const term::list_type& a) {
    const std::size_t n = a.size();
    const auto is = [&](std::string_view name, std::size_t arity) { return f == name && n == arity; };

    if (is("call", 2) || is("call", 3)) {
        const auto peer = name_of(a[0], "Node");
        const auto request = rot::mfa::from_term(a[1]);
        auto timeout = node_.options().call_timeout;
        if (n == 3) {
            if (a[2].is_atom("infinity")) timeout = std::chrono::hours(24 * 365);
            else timeout = std::chrono::milliseconds(int_of(a[2], "Timeout", 0, INT32_MAX));
        }
        auto r = node_.try_call(peer, request, timeout);
        if (!r) throw rot::error(r.error());
        return std::move(r).value();
    }
    if (is("cast", 2)) {
        node_.try_cast(name_of(a[0], "Node"), rot::mfa::from_term(a[1])).value();
        return atom("ok");
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
        const auto host = name_of(a[0], "Host");
        auto opts = connect_options_of(a[1]);
        opts.supervise = opts.supervise || f == "connect_link";
        const auto count = n == 3 ? int_of(a[2], "N", 1, 1024) : 4;
        auto r = node_.try_connect(host, opts, static_cast<std::size_t>(count));
        if (!r) return error_answer(r.error());
        return rot::tuple(atom("ok"), atom(*r));
    }
    if (is("connected", 0)) return atoms(node_.connected());
    if (is("connected", 1)) return node_.connected(name_of(a[0], "Node"));
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
    if (is("help", 0)) {
        if (say_)
            for (const auto& line : help_lines()) say_(line);
        return atom("ok");
    }
    if (is("q", 0)) return atom("ok");
    raise(errc::undef, fmt::format("undefined shell command {}/{}", f, n));
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
        // module:function, from the shell itself (rot:) and from every peer.
        const std::string module = word.substr(0, colon);
        if (module == "rot")
            for (const auto& fn : shell_functions()) candidates.push_back("rot:" + std::string(fn.name));
        for (const auto& peer : node_.connected())
            for (const auto& fn : remote_names(peer, module)) candidates.push_back(module + ":" + fn);
    } else {
        for (const auto& fn : shell_functions()) candidates.emplace_back(fn.name);
        for (const auto& peer : node_.connected()) candidates.push_back(peer);
    }
    std::erase_if(candidates, [&](const std::string& c) { return c.rfind(word, 0) != 0; });
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    return candidates;
}

}  // namespace rotsh
