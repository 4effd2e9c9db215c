// The rotsh language, driven in-process: two shells on two nodes.

#include "shell.hpp"

#include <regex>

#include "support.hpp"

using namespace rot;
using namespace rot::test;
using rotsh::shell;

namespace {

/// The result line of a single expression.
std::string run(shell& sh, std::string_view expr) {
    const auto out = sh.eval(expr);
    REQUIRE(out.size() == 1);
    return out[0].line;
}

std::uint16_t port_of(shell& sh, std::string_view server) {
    const std::string servers = run(sh, "servers().");
    const std::regex port(fmt::format("name => {},port => (\\d+)", server));
    std::smatch m;
    REQUIRE(std::regex_search(servers, m, port));
    return static_cast<std::uint16_t>(std::stoi(m[1]));
}

struct two_shells {
    node n1{test_node("node1")};
    node n2{test_node("node2")};
    std::vector<std::string> said;
    shell sh1{n1, [this](std::string_view s) { said.emplace_back(s); }};
    shell sh2{n2};

    two_shells() {
        CHECK(n1.load_module(ROT_MATH_MODULE).value() == std::vector<std::string>{"math"});
    }
    std::uint16_t serve(std::string_view opts = "") {
        CHECK(run(sh1, fmt::format("rot:start_server([{{name, srv}}, {{ip, \"127.0.0.1\"}}, {{port, 0}}{}]).",
                                   opts)) == "{ok,srv}");
        return port_of(sh1, "srv");
    }
};

}  // namespace

TEST_CASE("expressions split at the dot that ends them") {
    using rotsh::split_expressions;
    CHECK(split_expressions("a(). b().") == std::vector<std::string>{"a()", "b()"});
    CHECK(split_expressions("call(srv, {m, f, [1.5]})") == std::vector<std::string>{"call(srv, {m, f, [1.5]})"});
    CHECK(split_expressions("f(\"a. b\"). g('x. y')") == std::vector<std::string>{"f(\"a. b\")", "g('x. y')"});
    CHECK(split_expressions("f($.). % a comment. with dots.\n") == std::vector<std::string>{"f($.)"});
    CHECK(split_expressions("  .  ").empty());
}

TEST_CASE("the seed transcript, in two shells") {
    two_shells t;
    const auto port = t.serve();
    CHECK(run(t.sh2, fmt::format("rot:connect(localhost, [{{name, cl}}, {{port, {}}}]).", port)) == "{ok,srv}");
    CHECK(run(t.sh2, "rot:connected().") == "[srv]");
    CHECK(run(t.sh2, "rot:call(srv, {rot, node, []}).") == "node1");
    CHECK(run(t.sh1, "rot:connected().") == "[cl]");
    CHECK(run(t.sh1, "rot:call(cl, {rot, node, []}).") == "node2");
    // Without the rot: prefix, and with a timeout.
    CHECK(run(t.sh2, "call(srv, {math, add, [1, 2]}, 1000)") == "3");
    CHECK(run(t.sh2, "connected(srv).") == "4");
    CHECK(run(t.sh2, "cast(srv, {math, add, [1, 2]}).") == "ok");
}

TEST_CASE("the seed's jail example") {
    two_shells t;
    const auto port = t.serve(", {jail, math}");
    CHECK(run(t.sh2, fmt::format("connect(\"127.0.0.1\", [{{name, cl}}, {{port, {}}}], 1).", port)) == "{ok,srv}");
    const auto out = t.sh2.eval("rot:call(srv, {rot, memory, []}).");
    REQUIRE(out.size() == 1);
    CHECK_FALSE(out[0].ok);
    CHECK(out[0].line == "** exception error: undefined function math:memory/0");
    CHECK(run(t.sh2, "call(srv, {mul, [6, 7]}).") == "42");
}

TEST_CASE("failures: exceptions raise, API errors answer {error, Reason}, the shell goes on") {
    two_shells t;
    const auto port = t.serve(", {jails, [{guest, rot}]}, {cookies, [{guest, \"guest secret\"}]}");
    auto out = t.sh2.eval("call(srv, {math, add, [1, 2]}).");
    CHECK(out[0].line == "** exception error: not connected to srv");
    CHECK_FALSE(out[0].ok);
    run(t.sh2, fmt::format("connect(localhost, [{{name, cl}}, {{port, {}}}], 1).", port));

    CHECK(run(t.sh2, "call(srv, {math, add, [1, x]}).").find("** exception error: bad argument in math:add/2") == 0);
    CHECK(run(t.sh2, "call(srv, {math, sleep_ms, [2000]}, 50).") ==
          "** exception error: timeout: no reply from srv within 50 ms");
    CHECK(run(t.sh2, "call(srv, {add, [1, 2]}).").find("** exception error: bad_request:") == 0);
    CHECK(run(t.sh2, "call(srv, notatuple).").find("** exception error: expected {Module, Function, Args}") == 0);

    // Syntax errors say where; columns count in the expression.
    CHECK(run(t.sh2, "call(srv, {math, add, [1, 2}).") ==
          "** exception error: syntax_error: 1:28: expected ',' or ']' but found '}'");
    CHECK(run(t.sh2, "nosuch(1, 2).") == "** exception error: undefined shell command nosuch/2");
    CHECK(run(t.sh2, "start_server([{prot, 1}]).") == "** exception error: bad argument: unknown option {prot, 1}");

    // The API's own failures are answers, not exceptions.
    out = t.sh2.eval(fmt::format("connect(localhost, [{{name, cl}}, {{port, {}}}], 1).", 1));
    CHECK(out[0].line.find("{error,{connect_failed,") == 0);
    CHECK_FALSE(out[0].ok);
    out = t.sh2.eval(fmt::format("connect(localhost, [{{name, cl2}}, {{port, {}}}, {{cookie, \"wrong\"}}], 1).", port));
    CHECK(out[0].line == fmt::format("{{error,{{auth_failed,\"connect to localhost:{}: refused: authentication failed: "
                                     "the cookie does not match\"}}}}",
                                     port));
    CHECK_FALSE(out[0].ok);
    CHECK(run(t.sh1, "stop_server(nope).") == "{error,{invalid_argument,\"no server named nope\"}}");
    CHECK(run(t.sh1, "disconnect(nope).") == "{error,{not_connected,\"not connected to nope\"}}");
    CHECK(run(t.sh1, fmt::format("start_server([{{name, other}}, {{ip, {{127,0,0,1}}}}, {{port, {}}}]).", port))
              .find("{error,{connect_failed,") == 0);

    // Several expressions on one line; a term evaluates to itself.
    out = t.sh2.eval("connected(). {a, \"b\", <<1>>}. 1.5");
    REQUIRE(out.size() == 3);
    CHECK(out[0].line == "[srv]");
    CHECK(out[1].line == "{a,\"b\",<<1>>}");
    CHECK(out[2].line == "1.5");
}

TEST_CASE("introspection and local functions") {
    two_shells t;
    const auto port = t.serve(", {jail, math}, {acceptors, 3}");
    run(t.sh2, fmt::format("connect(localhost, [{{name, cl}}, {{port, {}}}, {{jail, math}}], 2).", port));
    const auto servers = run(t.sh1, "servers().");
    CHECK(servers.find("acceptors => 3") != std::string::npos);
    CHECK(servers.find("jail => math") != std::string::npos);
    const auto conns = run(t.sh2, "connections().");
    CHECK(conns.find("peer => srv") != std::string::npos);
    CHECK(conns.find("node => node1") != std::string::npos);
    CHECK(run(t.sh1, "modules().") == "[math,rot]");
    CHECK(run(t.sh2, "disconnect(srv).") == "ok");
    CHECK(run(t.sh2, "connected().") == "[]");
    CHECK(run(t.sh1, "stop_server(srv).") == "ok");

    CHECK(run(t.sh1, "help().") == "ok");
    CHECK(t.said.size() == shell::help_lines().size());
    const auto quit = t.sh1.eval("q(). connected().");
    REQUIRE(quit.size() == 1);
    CHECK(quit[0].quit);
}

TEST_CASE("load_module: success, and failures that leave the node as it was") {
    node n(test_node("n"));
    shell sh(n);
    CHECK(run(sh, fmt::format("load_module(\"{}\").", ROT_MATH_MODULE)) == "{ok,[math]}");
    CHECK(run(sh, fmt::format("load_module(\"{}\").", ROT_MATH_MODULE)) ==
          fmt::format("{{error,{{already_exists,\"cannot load module {}: module math already exists\"}}}}",
                      ROT_MATH_MODULE));
    CHECK(run(sh, "load_module(\"/no/such/file.so\").") ==
          "{error,{invalid_argument,\"cannot load module /no/such/file.so: no such file\"}}");
    CHECK(run(sh, fmt::format("load_module(\"{}\").", ROT_NO_ENTRY_MODULE)).find("no rot_plugin_init entry point") !=
          std::string::npos);
    CHECK(run(sh, fmt::format("load_module(\"{}\").", ROT_THROWS_MODULE)).find("its entry point threw: cannot initialise") !=
          std::string::npos);
    CHECK(run(sh, fmt::format("load_module(\"{}\").", ROT_TAKES_ROT_MODULE)).find("module rot already exists") !=
          std::string::npos);
    // All or nothing: neither half nor fresh got in.
    CHECK(run(sh, "modules().") == "[math,rot]");
}

TEST_CASE("completion: shell functions, peers, remote modules and functions") {
    two_shells t;
    const auto port = t.serve();
    run(t.sh2, fmt::format("connect(localhost, [{{name, cl}}, {{port, {}}}], 1).", port));
    const auto at_end = [&](std::string_view line) {
        const auto start = line.find_last_of(" \t({[,") == std::string_view::npos ? 0 : line.find_last_of(" \t({[,") + 1;
        return t.sh2.complete(line, start, line.size());
    };
    CHECK(at_end("conn") == std::vector<std::string>{"connect", "connect_link", "connected", "connections"});
    CHECK(at_end("call(s") == std::vector<std::string>{"servers", "srv", "start_server", "stop_server"});
    CHECK(at_end("call(srv, {ma") == std::vector<std::string>{"math"});
    CHECK(at_end("call(srv, {math, a") == std::vector<std::string>{"add"});
    CHECK(at_end("call(srv, {math, ") == std::vector<std::string>{"add", "echo", "mul", "sleep_ms"});
    CHECK(at_end("math:m") == std::vector<std::string>{"math:mul"});
    CHECK(at_end("rot:start") == std::vector<std::string>{"rot:start_server"});
    CHECK(at_end("call(nobody, {math, a").empty());
}
