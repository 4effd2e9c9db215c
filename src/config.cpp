// The TOML config loader. The only file that sees toml++: everything past it
// works with the option structs, so the parser can change without touching them.

#include <rot/config.hpp>
#include <rot/error.hpp>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "auth.hpp"
#include "limits.hpp"
#include "log.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace rot {

namespace {

namespace fs = std::filesystem;

using detail::max_name_bytes;
using detail::max_timeout_ms;

constexpr std::string_view log_levels[] = {"debug", "info", "warning", "error", "none"};

std::string_view article_type(toml::node_type t) {
    switch (t) {
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

std::string_view bare_type(toml::node_type t) {
    auto s = article_type(t);
    return s.substr(s.find(' ') + 1);
}

// A key as it would be written in TOML: bare when it can be, else quoted.
std::string key_text(std::string_view k) {
    const bool bare = !k.empty() && std::all_of(k.begin(), k.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '-';
    });
    return bare ? std::string(k) : fmt::format("\"{}\"", k);
}

// A table and the key path that leads to it ("", "node", "server[1]"), so
// that every message can say which key is wrong.
struct scope {
    const toml::table& table;
    std::string path;

    [[nodiscard]] std::string key(std::string_view k) const {
        return path.empty() ? key_text(k) : path + "." + key_text(k);
    }
};

// Walks the document once, filling a config and throwing at the first problem.
class checker {
  public:
    explicit checker(const fs::path& source) : source_(source) {}

    config run(const toml::table& root) {
        const scope top{root, ""};
        only(top, {"node", "server", "connect", "modules", "limits", "log"});
        config c;
        if (auto s = table(top, "node")) read_node(*s, c.node);
        if (auto s = table(top, "limits")) read_limits(*s, c.node);
        if (auto s = table(top, "log")) read_log(*s, c.log_level);
        if (auto s = table(top, "modules")) read_modules(*s, c.modules);
        for_each_table(top, "server", [&](const scope& s) { c.servers.push_back(read_server(s)); });
        for_each_table(top, "connect",
                       [&](const scope& s) { c.connects.push_back(read_connect(s)); });
        check_unique_servers(top, c);
        return c;
    }

  private:
    [[noreturn]] void fail(const toml::source_region& at, std::string_view key,
                           std::string_view what) const {
        throw error(errc::invalid_argument,
                    fmt::format("{}:{}: {}: {}", source_.string(), at.begin.line, key, what));
    }

    // Rejects keys not in `known`; of several, the first in the file, as a
    // reader would look for it.
    void only(const scope& s, std::initializer_list<std::string_view> known) const {
        const toml::key* first = nullptr;
        for (auto&& [k, v] : s.table) {
            if (std::find(known.begin(), known.end(), k.str()) != known.end()) continue;
            if (!first || k.source().begin < first->source().begin) first = &k;
        }
        if (!first) return;
        std::string list;
        for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        fail(first->source(), s.key(first->str()), fmt::format("unknown key (known: {})", list));
    }

    // The value at `k` if present; throws if it is not of type `want`.
    const toml::node* value(const scope& s, std::string_view k, toml::node_type want) const {
        const toml::node* n = s.table.get(k);
        if (n && n->type() != want)
            fail(n->source(), s.key(k),
                 fmt::format("expected {}, got {}", article_type(want), bare_type(n->type())));
        return n;
    }

    std::optional<scope> table(const scope& s, std::string_view k) const {
        if (auto n = value(s, k, toml::node_type::table)) return scope{*n->as_table(), s.key(k)};
        return std::nullopt;
    }

    template <class F>
    void for_each_table(const scope& s, std::string_view k, F&& f) const {
        auto n = s.table.get(k);
        if (!n) return;
        if (!n->is_array())
            fail(n->source(), s.key(k),
                 fmt::format("expected an array of tables ([[{}]]), got {}", k,
                             bare_type(n->type())));
        std::size_t i = 0;
        for (const toml::node& e : *n->as_array()) {
            const auto path = fmt::format("{}[{}]", s.key(k), i++);
            if (!e.is_table())
                fail(e.source(), path,
                     fmt::format("expected a table, got {}", bare_type(e.type())));
            f(scope{*e.as_table(), path});
        }
    }

    template <class T>
    void integer(const scope& s, std::string_view k, std::int64_t lo, std::int64_t hi,
                 T& out) const {
        auto n = value(s, k, toml::node_type::integer);
        if (!n) return;
        const std::int64_t v = n->as_integer()->get();
        if (v < lo || v > hi)
            fail(n->source(), s.key(k), fmt::format("{} is out of range ({}..{})", v, lo, hi));
        out = static_cast<T>(v);
    }

    void milliseconds(const scope& s, std::string_view k, std::chrono::milliseconds& out) const {
        std::int64_t ms = out.count();
        integer(s, k, 1, max_timeout_ms, ms);
        out = std::chrono::milliseconds(ms);
    }

    void boolean(const scope& s, std::string_view k, bool& out) const {
        if (auto n = value(s, k, toml::node_type::boolean)) out = n->as_boolean()->get();
    }

    const toml::value<std::string>* string(const scope& s, std::string_view k) const {
        auto n = value(s, k, toml::node_type::string);
        return n ? n->as_string() : nullptr;
    }

    // Names of nodes, servers, clients and modules: given means not empty.
    void check_name(const toml::source_region& at, const std::string& key,
                    std::string_view v) const {
        if (v.empty()) fail(at, key, "must not be empty");
        if (v.size() > max_name_bytes)
            fail(at, key, fmt::format("is {} bytes long (at most {})", v.size(), max_name_bytes));
    }

    void name(const scope& s, std::string_view k, std::string& out) const {
        if (auto n = string(s, k)) {
            check_name(n->source(), s.key(k), n->get());
            out = n->get();
        }
    }

    void read_node(const scope& s, node_options& n) const {
        only(s, {"name", "io_threads", "handler_threads", "cookie", "cookie_file"});
        name(s, "name", n.name);
        integer(s, "io_threads", 1, detail::max_io_threads, n.io_threads);
        integer(s, "handler_threads", 0, detail::max_handler_threads, n.handler_threads);
        cookie(s, "cookie", n.cookie);
        if (auto p = path(s, "cookie_file")) n.cookie_file = p->string();
        if (!n.cookie.empty() && !n.cookie_file.empty())
            fail(s.table.get("cookie_file")->source(), s.key("cookie_file"), "give cookie or cookie_file, not both");
    }

    void read_limits(const scope& s, node_options& n) const {
        only(s, {"max_frame_bytes", "call_timeout_ms", "connect_timeout_ms", "max_requests_per_connection",
                 "max_request_bytes_per_connection", "stalled_frame_timeout_ms", "heartbeat_interval_ms",
                 "dead_peer_timeout_ms", "shutdown_grace_ms"});
        integer(s, "max_frame_bytes", detail::min_frame_limit, max_frame_ceiling, n.max_frame_bytes);
        milliseconds(s, "call_timeout_ms", n.call_timeout);
        milliseconds(s, "connect_timeout_ms", n.connect_timeout);
        milliseconds(s, "stalled_frame_timeout_ms", n.stalled_frame_timeout);
        milliseconds(s, "heartbeat_interval_ms", n.heartbeat_interval);
        milliseconds(s, "dead_peer_timeout_ms", n.dead_peer_timeout);
        if (n.dead_peer_timeout <= n.heartbeat_interval) {
            const toml::node* at = s.table.get("dead_peer_timeout_ms") ? s.table.get("dead_peer_timeout_ms")
                                                                         : s.table.get("heartbeat_interval_ms");
            fail(at->source(), s.key(s.table.get("dead_peer_timeout_ms") ? "dead_peer_timeout_ms" : "heartbeat_interval_ms"),
                 fmt::format("dead_peer_timeout_ms ({}) must be more than heartbeat_interval_ms ({})",
                             n.dead_peer_timeout.count(), n.heartbeat_interval.count()));
        }
        std::int64_t grace = n.shutdown_grace.count();
        integer(s, "shutdown_grace_ms", 0, max_timeout_ms, grace);
        n.shutdown_grace = std::chrono::milliseconds(grace);
        integer(s, "max_requests_per_connection", 1, detail::max_requests_ceiling, n.max_requests_per_connection);
        integer(s, "max_request_bytes_per_connection", detail::min_frame_limit, detail::max_request_bytes_ceiling,
                n.max_request_bytes_per_connection);
    }

    // A secret given in the file: 1..max_cookie_bytes bytes.
    void cookie(const scope& s, std::string_view k, std::string& out) const {
        auto n = string(s, k);
        if (!n) return;
        if (n->get().empty() || n->get().size() > detail::max_cookie_bytes)
            fail(n->source(), s.key(k),
                 fmt::format("must be 1 to {} bytes (it is {})", detail::max_cookie_bytes, n->get().size()));
        out = n->get();
    }

    // A file named in the config: relative paths are relative to the config
    // file's directory when there is such a file (see read_modules).
    std::optional<fs::path> path(const scope& s, std::string_view k) const {
        auto n = string(s, k);
        if (!n) return std::nullopt;
        const fs::path p(n->get());
        if (p.empty()) fail(n->source(), s.key(k), "must not be empty");
        return anchored(p);
    }

    fs::path anchored(const fs::path& p) const {
        std::error_code ec;
        const fs::path base = source_.parent_path();
        return !base.empty() && fs::is_directory(base, ec) && p.is_relative() ? base / p : p;
    }

    void transport(const scope& s, rot::transport& out) const {
        auto n = string(s, "transport");
        if (!n) return;
        if (n->get() == "tcp") out = rot::transport::tcp;
        else if (n->get() == "tls") out = rot::transport::tls;
        else fail(n->source(), s.key("transport"), fmt::format("\"{}\" is not one of tcp, tls", n->get()));
    }

    void read_tls(const scope& s, tls_options& t) const {
        only(s, {"certificate", "private_key", "ca", "verify_peer", "require_peer_certificate", "check_node_name"});
        if (auto p = path(s, "certificate")) t.certificate = p->string();
        if (auto p = path(s, "private_key")) t.private_key = p->string();
        if (auto p = path(s, "ca")) t.ca = p->string();
        boolean(s, "verify_peer", t.verify_peer);
        boolean(s, "require_peer_certificate", t.require_peer_certificate);
        boolean(s, "check_node_name", t.check_node_name);
    }

    void read_log(const scope& s, std::string& level) const {
        only(s, {"level"});
        auto n = string(s, "level");
        if (!n) return;
        if (std::find(std::begin(log_levels), std::end(log_levels), n->get()) ==
            std::end(log_levels))
            fail(n->source(), s.key("level"),
                 fmt::format("\"{}\" is not one of debug, info, warning, error, none", n->get()));
        level = n->get();
    }

    void read_modules(const scope& s, std::vector<fs::path>& modules) const {
        only(s, {"load"});
        auto n = s.table.get("load");
        if (!n) return;
        auto array = n->as_array();
        if (!array)
            fail(n->source(), s.key("load"),
                 fmt::format("expected an array of strings, got {}", bare_type(n->type())));
        // A relative path means "next to this file" when such a file is
        // there; otherwise it stays relative, for node::load_module to look
        // for (the working directory, ROT_MODULE_PATH, beside the program).
        std::size_t i = 0;
        for (const toml::node& e : *array) {
            const auto key = fmt::format("{}[{}]", s.key("load"), i++);
            if (!e.is_string())
                fail(e.source(), key,
                     fmt::format("expected a string, got {}", bare_type(e.type())));
            const fs::path p(e.as_string()->get());
            if (p.empty()) fail(e.source(), key, "must not be empty");
            std::error_code ec;
            const fs::path beside = anchored(p);
            modules.push_back(fs::exists(beside, ec) ? beside : p);
        }
    }

    void read_jails(const scope& s, std::map<std::string, std::string, std::less<>>& jails) const {
        for (auto&& [k, v] : s.table) {
            const auto key = s.key(k.str());
            check_name(k.source(), key, k.str());
            if (!v.is_string())
                fail(v.source(), key,
                     fmt::format("expected a string, got {}", bare_type(v.type())));
            check_name(v.source(), key, v.as_string()->get());
            jails.emplace(k.str(), v.as_string()->get());
        }
    }

    void read_cookies(const scope& s, std::map<std::string, std::string, std::less<>>& cookies) const {
        for (auto&& [k, v] : s.table) {
            check_name(k.source(), s.key(k.str()), k.str());
            std::string secret;
            cookie(s, k.str(), secret);
            cookies.emplace(k.str(), secret);
        }
    }

    void address(const scope& s, std::string_view k, std::string& out) const {
        auto n = string(s, k);
        if (!n) return;
        const std::string& ip = n->get();
        in6_addr buf{};
        // inet_pton reads a C string: an embedded NUL would hide what follows it.
        const bool ok =
            ip.find('\0') == std::string::npos && (inet_pton(AF_INET, ip.c_str(), &buf) == 1 ||
                                                   inet_pton(AF_INET6, ip.c_str(), &buf) == 1);
        if (!ok)
            fail(n->source(), s.key(k), fmt::format("\"{}\" is not an IPv4 or IPv6 address", ip));
        out = ip;
    }

    server_options read_server(const scope& s) const {
        only(s, {"name", "ip", "port", "acceptors", "jail", "jails", "cookies", "inline_handlers", "transport",
                 "tls", "max_connections", "max_handshakes"});
        server_options o;
        name(s, "name", o.name);
        address(s, "ip", o.ip);
        integer(s, "port", 0, 65535, o.port);
        integer(s, "acceptors", 1, detail::max_acceptors, o.acceptors);
        name(s, "jail", o.jail);
        if (auto c = table(s, "cookies")) read_cookies(*c, o.cookies);
        if (auto j = table(s, "jails")) {
            read_jails(*j, o.jails);
            for (auto&& [k, v] : j->table)
                if (!o.cookies.count(k.str()))
                    fail(k.source(), j->key(k.str()),
                         fmt::format("client {} has a jail but no cookie of its own ({}.cookies): a per-client "
                                     "jail holds only for a client that proves its name",
                                     k.str(), s.path));
        }
        boolean(s, "inline_handlers", o.inline_handlers);
        transport(s, o.transport);
        if (auto t = table(s, "tls")) read_tls(*t, o.tls);
        integer(s, "max_connections", 1, detail::max_connections_ceiling, o.max_connections);
        integer(s, "max_handshakes", 1, detail::max_connections_ceiling, o.max_handshakes);
        if (o.transport == rot::transport::tls && (o.tls.certificate.empty() || o.tls.private_key.empty()))
            fail((s.table.get("tls") ? s.table.get("tls") : s.table.get("transport"))->source(), s.key("tls"),
                 "a TLS server needs tls.certificate and tls.private_key");
        return o;
    }

    connect_spec read_connect(const scope& s) const {
        only(s, {"host", "port", "name", "connections", "jail", "link", "server", "cookie", "cookie_file",
                 "transport", "tls"});
        connect_spec c;
        if (auto n = string(s, "host")) {
            check_name(n->source(), s.key("host"), n->get());
            if (n->get().find('\0') != std::string::npos)
                fail(n->source(), s.key("host"), "contains a NUL character");
            c.host = n->get();
        }
        integer(s, "port", 1, 65535, c.options.port);
        name(s, "name", c.options.name);
        integer(s, "connections", 1, detail::max_pool_connections, c.connections);
        name(s, "jail", c.options.jail);
        boolean(s, "link", c.link);
        c.options.supervise = c.link;
        name(s, "server", c.options.server);
        cookie(s, "cookie", c.options.cookie);
        if (auto p = path(s, "cookie_file")) {
            if (!c.options.cookie.empty())
                fail(s.table.get("cookie_file")->source(), s.key("cookie_file"),
                     "give cookie or cookie_file, not both");
            try {
                c.options.cookie = detail::read_cookie_file(*p);
                c.cookie_from_file = true;
            } catch (const rot::error& e) {
                fail(s.table.get("cookie_file")->source(), s.key("cookie_file"), e.message());
            }
        }
        transport(s, c.options.transport);
        if (auto t = table(s, "tls")) read_tls(*t, c.options.tls);
        return c;
    }

    // Unnamed servers take the node's name, so two of them clash as surely
    // as two of the same explicit name.
    void check_unique_servers(const scope& top, const config& c) const {
        std::map<std::string_view, std::size_t> seen;
        for (std::size_t i = 0; i < c.servers.size(); ++i) {
            const std::string_view effective =
                c.servers[i].name.empty() ? c.node.name : c.servers[i].name;
            auto [it, fresh] = seen.emplace(effective, i);
            if (fresh) continue;
            const toml::table& t = *top.table.get("server")->as_array()->get(i)->as_table();
            const toml::node* at = t.get("name") ? t.get("name") : &t;
            fail(at->source(), fmt::format("server[{}].name", i),
                 fmt::format(
                     "duplicate server name \"{}\" (also server[{}]{})", effective, it->second,
                     c.servers[i].name.empty() ? "; an unnamed server takes the node's name" : ""));
        }
    }

    const fs::path& source_;
};

[[noreturn]] void unreadable(const fs::path& path, int err) {
    throw error(errc::invalid_argument,
                fmt::format("{}: cannot read config file: {}", path.string(),
                            std::generic_category().message(err)));
}

}  // namespace

config parse_config(std::string_view text, const fs::path& source) {
    toml::table root;
    try {
        root = toml::parse(text, std::string_view(source.string()));
    } catch (const toml::parse_error& e) {
        throw error(errc::invalid_argument,
                    fmt::format("{}:{}:{}: TOML syntax error: {}", source.string(),
                                e.source().begin.line, e.source().begin.column, e.description()));
    }
    return checker(source).run(root);
}

namespace {
// Secrets in a file others may read are secrets no more: said once, when the
// file is loaded (a cookie_file is refused outright; a config is often shared
// and committed, so it is told, not refused).
void warn_if_secrets_exposed(const fs::path& path, const config& c) {
    bool secrets = !c.node.cookie.empty();
    for (const auto& s : c.servers) secrets = secrets || !s.cookies.empty();
    for (const auto& k : c.connects) secrets = secrets || (!k.options.cookie.empty() && !k.cookie_from_file);
    std::error_code ec;
    const auto perms = fs::status(path, ec).permissions();
    if (!secrets || ec || (perms & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none) return;
    detail::log(detail::log_level::warning, c.node.name,
                "config file {} holds cookies but group or others may read it (mode {:04o}): chmod 600 {}, or "
                "keep the cookies in cookie files",
                path.string(), static_cast<unsigned>(perms) & 0777u, path.string());
}
}  // namespace

config load_config(const fs::path& path) {
    // stdio rather than iostreams: it reports why (errno), and a directory
    // fails on read with EISDIR instead of looking like an empty file.
    struct closer {
        void operator()(std::FILE* f) const { std::fclose(f); }
    };
    std::unique_ptr<std::FILE, closer> f(std::fopen(path.c_str(), "rb"));
    if (!f) unreadable(path, errno);
    std::string text;
    char buf[1 << 14];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
    if (std::ferror(f.get())) unreadable(path, errno ? errno : EIO);
    config c = parse_config(text, path);
    warn_if_secrets_exposed(path, c);
    return c;
}

}  // namespace rot
