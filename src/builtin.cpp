// The module `rot` every node exports: introspection for people and for rotsh.

#include <unistd.h>

#include <fstream>

#include "connection.hpp"
#include "node_impl.hpp"

namespace rot::detail {

namespace {
std::int64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * ::sysconf(_SC_PAGESIZE);
}

term atoms(const std::vector<std::string>& names) {
    term::list_type out;
    for (const auto& n : names) out.emplace_back(atom(n));
    return term::make_list(std::move(out));
}
}  // namespace

void register_builtins(node_impl& n) {
    module_builder m(n.functions, std::string(builtin_module));
    m.def("node", [&n] { return atom(n.options.name); });
    m.def("ping", [] { return atom("pong"); });
    m.def("modules", [&n] { return atoms(n.functions.modules()); });
    m.def("exports", [&n](const atom& module) {
        const auto exports = n.functions.exports(module.name);
        if (!exports) throw error(errc::badarg, fmt::format("no module named {}", module.name));
        term::list_type out;
        for (const auto& [function, arity] : *exports) out.push_back(tuple(atom(function), arity));
        return term::make_list(std::move(out));
    });
    m.def("connected", [&n] { return atoms(n.peers.names()); });
    m.def("memory", [&n] {
        const auto conns = n.peers.all();
        std::size_t pending = 0;
        for (const auto& c : conns) pending += c->info().calls_pending;
        return map({{atom("resident_bytes"), resident_bytes()},
                    {atom("peers"), n.peers.names().size()},
                    {atom("connections"), conns.size()},
                    {atom("servers"), n.servers().size()},
                    {atom("calls_pending"), pending},
                    {atom("handlers_running"), n.handlers_running()},
                    {atom("requests_waiting"), n.jobs.waiting()},
                    {atom("modules"), n.functions.modules().size()}});
    });
    m.def("uptime", [&n] {
        // Milliseconds since the node started, like statistics(wall_clock).
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - n.started)
            .count();
    });
}

}  // namespace rot::detail
