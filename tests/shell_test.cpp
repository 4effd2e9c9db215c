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
    CHECK(out[0].line == "** exception error: not_connected: not connected to srv");
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
              .find("{error,{bind_failed,") == 0);

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
    CHECK(at_end("call(s") == std::vector<std::string>{"servers", "setelement", "srv", "start_server", "stop_server"});
    CHECK(at_end("call(srv, {ma") == std::vector<std::string>{"math"});
    CHECK(at_end("call(srv, {math, a") == std::vector<std::string>{"add"});
    CHECK(at_end("call(srv, {math, ") == std::vector<std::string>{"add", "echo", "mul", "sleep_ms"});
    // node2 has no module math: math:mul would not run there.
    CHECK(at_end("math:m").empty());
    CHECK(at_end("rot:start") == std::vector<std::string>{"rot:start_server"});
    CHECK(at_end("call(nobody, {math, a").empty());
}

// --- The language -------------------------------------------------------------------

namespace {

/// The lines a multi-line value was printed on.
std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t from = 0;
    for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', from)) {
        out.push_back(text.substr(from, nl - from));
        from = nl + 1;
    }
    out.push_back(text.substr(from));
    return out;
}

/// Outcomes of one eval, by line.
std::vector<std::string> run_all(shell& sh, std::string_view input) {
    std::vector<std::string> out;
    for (const auto& o : sh.eval(input)) out.push_back(o.line);
    return out;
}

/// A node without a server, and its shell.
struct lone_shell {
    node n{test_node("lone")};
    std::vector<std::string> said;
    shell sh{n, [this](std::string_view s) { said.emplace_back(s); }};
};

}  // namespace

TEST_CASE("is_complete: a statement ends with a dot outside strings, atoms, $c and comments") {
    using rotsh::shell;
    CHECK(shell::is_complete(""));
    CHECK(shell::is_complete("  \n\t"));
    CHECK(shell::is_complete("% only a comment."));
    CHECK(shell::is_complete("connected()."));
    CHECK(shell::is_complete("a(). b().\n"));
    CHECK(shell::is_complete("X = 1. % done\n"));
    CHECK_FALSE(shell::is_complete("call(srv, {math, add,"));
    CHECK_FALSE(shell::is_complete("call(srv, {math, add,\n  [1, 2]})"));
    CHECK(shell::is_complete("call(srv, {math, add,\n  [1, 2]})."));
    CHECK_FALSE(shell::is_complete("a(). b("));
    CHECK_FALSE(shell::is_complete("foo() % not done.\n"));
    CHECK_FALSE(shell::is_complete("f(\"a. b\")"));
    CHECK(shell::is_complete("f(\"a. b\")."));
    CHECK_FALSE(shell::is_complete("\"unterminated. "));
    CHECK_FALSE(shell::is_complete("'x. y"));
    CHECK_FALSE(shell::is_complete("1.5"));
    CHECK(shell::is_complete("1.5."));
    CHECK_FALSE(shell::is_complete("$."));
    CHECK_FALSE(shell::is_complete("$. "));
    CHECK(shell::is_complete("$.."));
    CHECK(shell::is_complete("$%."));
}

TEST_CASE("literals read as rot::parse_term reads them") {
    lone_shell t;
    for (const std::string_view literal :
         {"42", "-7", "16#FF", "2#101", "1.5", "-2.5e-3", "9223372036854775807", "-9223372036854775808", "ok",
          "'hello world'", "\"a string\\n\"", "<<\"bin\">>", "<<1,2,3>>", "<<>>", "$a", "$\\n", "[1,[2],{3}]",
          "{a,{b,c}}", "#{a => 1,\"k\" => [x]}", "[]", "{}", "#{}", "'quoted'", "<<\"a>>b\">>"}) {
        CAPTURE(literal);
        CHECK(run(t.sh, std::string(literal) + ".") == fmt::format("{}", parse_term(literal)));
    }
    CHECK(run(t.sh, "[1, 2 % a comment\n, 3].") == "[1,2,3]");
    CHECK(run(t.sh, "9223372036854775808.") ==
          "** exception error: syntax_error: 1:1: integer out of range (64-bit signed)");
}

TEST_CASE("bindings and pattern matching") {
    lone_shell t;
    auto& sh = t.sh;
    CHECK(run(sh, "X = 1.") == "1");
    CHECK(run(sh, "X.") == "1");
    CHECK(run(sh, "X = 1.") == "1");  // bound, and equal: a match
    const auto differ = sh.eval("X = 2.");
    REQUIRE(differ.size() == 1);
    CHECK(differ[0].line == "** exception error: no match of right hand side value 2");
    CHECK_FALSE(differ[0].ok);
    CHECK(run(sh, "X.") == "1");

    CHECK(run(sh, "{ok, P} = {ok, 42}.") == "{ok,42}");
    CHECK(run(sh, "P.") == "42");
    CHECK(run(sh, "{ok, Q} = {error, {not_connected, \"not connected to srv\"}}.") ==
          "** exception error: no match of right hand side value {error,{not_connected,\"not connected to srv\"}}");
    CHECK(run(sh, "Q.") == "** exception error: variable 'Q' is unbound");

    CHECK(run(sh, "[H | T] = [1, 2, 3], {H, T}.") == "{1,[2,3]}");
    CHECK(run(sh, "[A1, A2 | Rest] = [a, b], Rest.") == "[]");
    CHECK(run(sh, "[_, _ | _] = [z].") == "** exception error: no match of right hand side value [z]");
    CHECK(run(sh, "#{name := N} = #{name => srv, port => 1}, N.") == "srv");
    CHECK(run(sh, "#{nope := _} = #{name => srv}.") ==
          "** exception error: no match of right hand side value #{name => srv}");
    CHECK(run(sh, "A = B = 7, {A, B}.") == "{7,7}");
    CHECK(run(sh, "{Z, Z} = {1, 2}.") == "** exception error: no match of right hand side value {1,2}");
    CHECK(run(sh, "{Z, Z} = {3, 3}.") == "{3,3}");
    CHECK(run(sh, "_ = anything, _ = other.") == "other");
    CHECK(run(sh, "_.") == "** exception error: variable '_' is unbound");
    // A statement that raises binds nothing.
    CHECK(run(sh, "W = 5, nosuch().") == "** exception error: undefined shell command nosuch/0");
    CHECK(run(sh, "W.") == "** exception error: variable 'W' is unbound");
    // Expressions in a statement run in order; values are built of expressions.
    CHECK(run(sh, "Y = X, {Y, [Y | [P]], #{Y => P}}.") == "{1,[1,42],#{1 => 42}}");
    CHECK(run(sh, "#{a => 1, a => 2}.") == "#{a => 2}");
    CHECK(run(sh, "[1 | 2].") ==
          "** exception error: bad argument: the tail of a list must be a list (terms have no improper lists), got 2");
    // Across lines.
    CHECK(run(sh, "{first,\n second,\n\n third}.") == "{first,second,third}");
}

TEST_CASE("operators as in erl: arithmetic, comparison, booleans and lists") {
    lone_shell t;
    auto& sh = t.sh;
    // Arithmetic, with erl's precedence and associativity.
    CHECK(run(sh, "1 + 1.") == "2");
    CHECK(run(sh, "1+2*3-4.") == "3");
    CHECK(run(sh, "(1 + 2) * 3.") == "9");
    CHECK(run(sh, "10 - 2 - 3.") == "5");
    CHECK(run(sh, "7 / 2.") == "3.5");
    CHECK(run(sh, "7 div 2, -7 div 2, 7 rem -2, -7 rem 2.") == "-1");
    CHECK(run(sh, "{7 div 2, -7 div 2, 7 rem -2}.") == "{3,-3,1}");
    CHECK(run(sh, "2.5 * 2.") == "5.0");
    CHECK(run(sh, "X = 5, X-1.") == "4");
    CHECK(run(sh, "X - -1.") == "6");
    CHECK(run(sh, "-X + +3.") == "-2");
    CHECK(run(sh, "{1 band 3, 1 bor 2, 3 bxor 1, 1 bsl 4, -16 bsr 2, bnot 0}.") == "{1,3,2,16,-4,-1}");
    CHECK(run(sh, "-9223372036854775808.") == "-9223372036854775808");
    // Comparison: == by value, =:= exact, numbers below atoms as in erl's term order.
    CHECK(run(sh, "{1 == 1.0, 1 =:= 1.0, 1 /= 1.0, 1 =/= 1.0}.") == "{true,false,false,true}");
    CHECK(run(sh, "{1 < 2, 2 =< 2, 3 > 2, 1 >= 2, 1 < a, {1, 2} < {1, 3}, [1.0] == [1]}.") ==
          "{true,true,true,false,true,true,true}");
    // Booleans; andalso and orelse do not evaluate what they need not.
    CHECK(run(sh, "{true and false, true or false, true xor true, not true}.") == "{false,true,false,false}");
    CHECK(run(sh, "false andalso nosuch(), true orelse nosuch().") == "true");
    CHECK(run(sh, "1 < 2 andalso 2 < 3.") == "true");
    // Lists and strings.
    CHECK(run(sh, "[1, 2] ++ [3] ++ [].") == "[1,2,3]");
    CHECK(run(sh, "\"ab\" ++ \"cd\".") == "\"abcd\"");
    CHECK(run(sh, "[1, 2, 3, 2, 1] -- [2, 1, 9].") == "[3,2,1]");
    CHECK(run(sh, "\"héllo\" -- \"lé\".") == "\"hlo\"");
    // Patterns keep their literals; an operator is no pattern.
    CHECK(run(sh, "-1 = -1.") == "-1");
    CHECK(run(sh, "{-2.5, N} = {-2.5, 1}, N.") == "1");
    CHECK(run(sh, "B = <<1, 2>>, B =:= <<1,2>>.") == "true");
    CHECK(run(sh, "C=<<3>>, C.") == "<<3>>");  // = then a binary, not =<
    CHECK(run(sh, "1 + X = 6.") == "** exception error: syntax_error: 1:3: illegal pattern");
    // Failures are exceptions that say what went wrong; the shell goes on.
    CHECK(run(sh, "1 + a.") ==
          "** exception error: an error occurred when evaluating an arithmetic expression: 1 + a");
    CHECK(run(sh, "1 div 0.") ==
          "** exception error: an error occurred when evaluating an arithmetic expression: 1 div 0");
    CHECK(run(sh, "1 / 0.") ==
          "** exception error: an error occurred when evaluating an arithmetic expression: 1 / 0");
    CHECK(run(sh, "1.5 rem 1.") ==
          "** exception error: an error occurred when evaluating an arithmetic expression: 1.5 rem 1");
    CHECK(run(sh, "9223372036854775807 + 1.") ==
          "** exception error: integer overflow (integers are 64-bit): 9223372036854775807 + 1");
    CHECK(run(sh, "-9223372036854775808 div -1.") ==
          "** exception error: integer overflow (integers are 64-bit): -9223372036854775808 div -1");
    CHECK(run(sh, "1 bsl 63.") == "** exception error: integer overflow (integers are 64-bit): 1 bsl 63");
    CHECK(run(sh, "1.0e300 * 1.0e300.") ==
          "** exception error: an error occurred when evaluating an arithmetic expression: 1.0e300 * 1.0e300");
    CHECK(run(sh, "-9223372036854775808 rem -1, 1 bsr 99, -1 bsr 99, 0 bsl 99.") == "0");
    CHECK(run(sh, "1 and true.") == "** exception error: bad argument in operator and/2: 1 and true");
    CHECK(run(sh, "1 orelse true.") == "** exception error: bad argument in operator orelse/2: 1 orelse ...");
    CHECK(run(sh, "[1] ++ 2.") ==
          "** exception error: bad argument in operator ++/2: [1] ++ 2 (terms have no improper lists)");
    CHECK(run(sh, "1 < 2 < 3.") ==
          "** exception error: syntax_error: 1:7: comparisons do not chain (use andalso)");
    CHECK(run(sh, "1 +.") == "** exception error: syntax_error: 1:4: expected an expression but found end of input");
    CHECK(run(sh, "1 <= 2.") == "** exception error: syntax_error: 1:3: there is no '<=': at most is '=<' (as in Erlang)");
    // Edges: INT64_MIN after an operator word, shifts into the sign bit, map keys compared exactly, [] as "".
    CHECK(run(sh, "{1 div -9223372036854775808, bnot -9223372036854775808, -1 bsl 63}.") ==
          "{0,9223372036854775807,-9223372036854775808}");
    CHECK(run(sh, "{#{1 => a} == #{1.0 => a}, #{a => 1} == #{a => 1.0}}.") == "{false,true}");
    CHECK(run(sh, "{[] ++ \"ab\", \"ab\" -- [], [] ++ []}.") == "{\"ab\",\"ab\",[]}");
    CHECK(run(sh, "[1] ++ \"a\".") ==
          "** exception error: bad argument in operator ++/2: [1] ++ \"a\" (a string is not a list of characters here)");
    CHECK(run(sh, "1 ++ [2].") == "** exception error: bad argument in operator ++/2: 1 ++ [2]");
    // A flat chain is no nesting; how tall an expression grows is bounded (the evaluator recurses).
    std::string chain = "0";
    for (int i = 0; i < 998; ++i) chain += " + 1";
    CHECK(run(sh, "X2 = " + chain + ".") == "998");
    CHECK(run(sh, chain + " + 1 + 1.") ==
          "** exception error: syntax_error: 1:3999: an expression more than 1000 operations deep");
    // Chains inside brackets inside chains: bounded all the same.
    std::string nested = "1";
    for (int k = 96; k >= 0; --k) {
        std::string ones;
        for (int i = 0; i < 97 - k; ++i) ones += "+1";
        nested = "(" + nested + ones + ")";
    }
    CHECK(run(sh, nested + ".").find("operations deep") != std::string::npos);
}

TEST_CASE("list comprehensions, as in erl") {
    lone_shell t;
    auto& sh = t.sh;
    CHECK(run(sh, "[X * 2 || X <- [1, 2, 3]].") == "[2,4,6]");
    CHECK(run(sh, "[X || X <- lists:seq(1, 10), X rem 3 =:= 0].") == "[3,6,9]");
    CHECK(run(sh, "[{X, Y} || X <- [1, 2], Y <- [a, b]].") == "[{1,a},{1,b},{2,a},{2,b}]");
    // A pattern picks; what does not match is skipped. Generators see earlier variables.
    CHECK(run(sh, "[P || {ok, P} <- [{ok, 1}, {error, x}, {ok, 2}]].") == "[1,2]");
    CHECK(run(sh, "[Y || X <- [[1, 2], [3]], Y <- X].") == "[1,2,3]");
    CHECK(run(sh, "Z = 10, [Z + X || X <- [1]].") == "[11]");
    CHECK(run(sh, "[{K, V} || K := V <- #{a => 1}].").find("syntax_error") != std::string::npos);
    // Variables bound inside stay inside.
    CHECK(run(sh, "[W || W <- [1]], W.") == "** exception error: variable 'W' is unbound");
    CHECK(run(sh, "[{Y = X * 2, Y} || X <- [1, 2]].") == "[{2,2},{4,4}]");
    CHECK(run(sh, "Y.") == "** exception error: variable 'Y' is unbound");
    CHECK(run(sh, "[X || X <- []].") == "[]");
    // Failures.
    CHECK(run(sh, "[X || X <- a].") == "** exception error: bad generator: a is not a list");
    CHECK(run(sh, "[X || X <- [1], lists:nth(1, [7])].") == "** exception error: bad filter: 7 is not a boolean");
    CHECK(run(sh, "[X || X <- lists:seq(1, 1000), Y <- lists:seq(1, 1001)].") ==
          "** exception error: bad argument: list comprehensions building more than 1000000 terms");
    CHECK(run(sh, "[X || <- [1]].") == "** exception error: syntax_error: 1:7: expected an expression but found '<-'");
    // Generator patterns bind afresh, shadowing; a filter's bindings hold for the rest of its turn.
    CHECK(run(sh, "X = 1, [X || X <- [1, 2, 3]].") == "[1,2,3]");
    CHECK(run(sh, "[X || X <- [1], X <- [2]], X.") == "1");
    CHECK(run(sh, "[{X, Y} || Y <- [1, 2], X <- [5, 6]].") == "[{5,1},{6,1},{5,2},{6,2}]");
    CHECK(run(sh, "[Q || Y <- [1, 2], (Q = Y) > 0].") == "[1,2]");
    CHECK(run(sh, "Q.") == "** exception error: variable 'Q' is unbound");
    CHECK(run(sh, "[P || {A, _} = P <- [{1, a}, x]].") == "[{1,a}]");
    // A filter that is a guard expression counts as false when it fails, or is not a boolean, as in erl.
    CHECK(run(sh, "[X || X <- [a, 1, 2], X rem 2 =:= 0].") == "[2]");
    CHECK(run(sh, "[1 || true, 1].") == "[]");
    CHECK(run(sh, "[X || X <- [1], nosuch(X)].") == "** exception error: undefined shell command nosuch/1");
    // The budget is the statement's: nested comprehensions and copied values count.
    CHECK(run(sh, "L = lists:seq(1, 1000000), length([L || _ <- L]).") ==
          "** exception error: bad argument: list comprehensions building more than 1000000 terms");
    CHECK(run(sh, "M = lists:seq(1, 2000), length([[1 || _ <- M] || _ <- M]).") ==
          "** exception error: bad argument: list comprehensions building more than 1000000 terms");
    CHECK(run(sh, "M2 = lists:seq(1, 500), length([[1 || _ <- M2] || _ <- M2]).") == "500");
    // Many qualifiers are bounded like deep nesting.
    std::string many = "[1 || ";
    for (int i = 0; i < 150; ++i) many += "true, ";
    CHECK(run(sh, many + "true].").find("more than 100 qualifiers") != std::string::npos);
    CHECK(run(sh, "X<-1.") == "** exception error: syntax_error: 1:2: expected ',' or '.' but found '<-' "
                              "(outside a list comprehension, write X < -1 with a space)");
    // A long one gives up on interrupt() (Ctrl-C), binding nothing.
    std::atomic<bool> running{false};
    t.n.module("probe").def("tick", [&running] {
        running = true;
        return false;
    });
    std::thread interrupter([&] {
        CHECK(eventually([&] { return running.load(); }));
        sh.interrupt();
    });
    const auto out = sh.eval("L = [X || X <- lists:seq(1, 1000000), Y <- lists:seq(1, 1000000), probe:tick()].");
    interrupter.join();
    REQUIRE(out.size() == 1);
    CHECK(out[0].interrupted);
    CHECK(out[0].line == "** interrupted: gave up a list comprehension");
    CHECK(run(sh, "L.") == "** exception error: variable 'L' is unbound");
}

TEST_CASE("erl's pure built-in functions, bare or as erlang:F") {
    lone_shell t;
    auto& sh = t.sh;
    CHECK(run(sh, "L = [a, b, c], {length(L), hd(L), tl(L), erlang:length(L)}.") == "{3,a,[b,c],3}");
    CHECK(run(sh, "T = {x, y}, {element(2, T), setelement(1, T, z), tuple_size(T), tuple_to_list(T)}.") ==
          "{y,{z,y},2,[x,y]}");
    CHECK(run(sh, "list_to_tuple([1, 2]).") == "{1,2}");
    CHECK(run(sh, "M = #{a => 1}, {map_get(a, M), map_size(M), is_map_key(a, M), is_map_key(b, M)}.") ==
          "{1,1,true,false}");
    CHECK(run(sh, "{abs(-3), abs(-2.5), max(1, 1.0), min(2, a), round(2.5), round(-2.5), trunc(-2.7), float(3)}.") ==
          "{3,2.5,1,2,3,-3,-2,3.0}");
    CHECK(run(sh, "{is_atom(a), is_integer(1.0), is_float(1.0), is_boolean(true), is_boolean(1), is_number(1), "
                  "is_list([]), is_tuple({}), is_map(#{}), is_binary(<<>>)}.") ==
          "{true,false,true,true,false,true,true,true,true,true}");
    CHECK(run(sh, "{byte_size(<<1, 2>>), byte_size(\"é\")}.") == "{2,2}");
    // Bad arguments say which call; an overflow is an overflow, as with the operators.
    CHECK(run(sh, "length(a).") == "** exception error: bad argument in function length/1: length(a)");
    CHECK(run(sh, "hd([]).") == "** exception error: bad argument in function hd/1: hd([])");
    CHECK(run(sh, "element(0, {a}).") == "** exception error: bad argument in function element/2: element(0, {a})");
    CHECK(run(sh, "map_get(b, #{a => 1}).") == "** exception error: bad key: b");
    CHECK(run(sh, "maps:get(a, x).") == "** exception error: bad map: x");
    CHECK(run(sh, "length(\"abc\").") == "** exception error: bad argument in function length/1: "
                                           "length(\"abc\") (a string is not a list of characters here)");
    CHECK(run(sh, "abs(-9223372036854775808).") ==
          "** exception error: integer overflow (integers are 64-bit): abs(-9223372036854775808)");
    CHECK(run(sh, "round(1.0e300).") == "** exception error: integer overflow (integers are 64-bit): round(1.0e300)");
    CHECK(run(sh, "erlang:nosuch(1).").find("undefined") != std::string::npos);
    // lists and maps, the most used of them.
    CHECK(run(sh, "{lists:seq(1, 4), lists:seq(5, 4), lists:sum([1, 2.5]), lists:reverse([1, 2])}.") ==
          "{[1,2,3,4],[],3.5,[2,1]}");
    CHECK(run(sh, "{lists:sort([b, 1.0, 1, a, 0]), lists:usort([2, 1, 2.0, 1]), lists:max([1, 3, 2]), "
                  "lists:min([b, a])}.") == "{[0,1.0,1,a,b],[1,2],3,a}");
    CHECK(run(sh, "{lists:nth(2, [a, b]), lists:last([1, 2]), lists:member(1.0, [1]), lists:append([1], [2]), "
                  "lists:zip([1, 2], [a, b])}.") == "{b,2,false,[1,2],[{1,a},{2,b}]}");
    CHECK(run(sh, "lists:keyfind(port, 1, [{name, srv}, {port, 1}]), lists:keyfind(x, 1, [{a}]).") == "false");
    CHECK(run(sh, "lists:keyfind(port, 1, [{name, srv}, {port, 1}]).") == "{port,1}");
    CHECK(run(sh, "N = #{a => 1}, {maps:get(a, N), maps:get(b, N, none), maps:find(b, N), maps:put(b, 2, N), "
                  "maps:remove(a, N), maps:keys(N), maps:values(N), maps:to_list(N), maps:size(N), "
                  "maps:is_key(a, N)}.") == "{1,none,error,#{a => 1,b => 2},#{},[a],[1],[{a,1}],1,true}");
    CHECK(run(sh, "{maps:from_list([{a, 1}, {a, 2}, {b, 3}]), maps:merge(#{a => 1, b => 1}, #{b => 2})}.") ==
          "{#{a => 2,b => 3},#{a => 1,b => 2}}");
    CHECK(run(sh, "maps:get(b, #{}).") == "** exception error: bad key: b");
    CHECK(run(sh, "lists:nth(3, [a]).") ==
          "** exception error: bad argument in function lists:nth/2: lists:nth(3, [a])");
    CHECK(run(sh, "lists:seq(1, 10000000).") == "** exception error: bad argument in function lists:seq/2: "
                                                 "lists:seq(1, 10000000) (more than 1000000 elements)");
    CHECK(run(sh, "lists:seq(-9223372036854775808, -1).").find("more than 1000000") != std::string::npos);
    CHECK(run(sh, "lists:seq(9223372036854775806, 9223372036854775807).") ==
          "[9223372036854775806,9223372036854775807]");
    CHECK(run(sh, "lists:seq(9223372036854775807, -9223372036854775808).") ==
          "** exception error: bad argument in function lists:seq/2: "
          "lists:seq(9223372036854775807, -9223372036854775808)");
    CHECK(run(sh, "lists:sum([9223372036854775807, 1]).") ==
          "** exception error: integer overflow (integers are 64-bit): 9223372036854775807 + 1");
    CHECK(run(sh, "lists:nosuch(1).").find("undefined") != std::string::npos);
    // A module of the node's own by that name comes first.
    t.n.module("lists").def("seq", [](std::int64_t, std::int64_t) { return std::string("mine"); });
    CHECK(run(sh, "lists:seq(1, 2).") == "\"mine\"");
    // Tab offers them.
    CHECK(sh.complete("leng", 0, 4) == std::vector<std::string>{"length"});
    CHECK(sh.complete("maps:ge", 0, 7) == std::vector<std::string>{"maps:get"});
    CHECK(sh.complete("erlang:is_map", 0, 13) == std::vector<std::string>{"erlang:is_map", "erlang:is_map_key"});
}

TEST_CASE("f, b, v, e and statement numbers") {
    lone_shell t;
    auto& sh = t.sh;
    CHECK(sh.next_number() == 1);
    CHECK(run(sh, "X = 1.") == "1");  // 1
    CHECK(sh.next_number() == 2);
    CHECK(run(sh, "{.").find("syntax_error") != std::string::npos);  // not evaluated, not counted
    CHECK(sh.next_number() == 2);
    CHECK(run(sh, "Y = {two, X}.") == "{two,1}");  // 2
    CHECK(run(sh, "b().") == "ok");                // 3
    CHECK(t.said == std::vector<std::string>{"X = 1", "Y = {two,1}"});
    CHECK(run(sh, "f(X).") == "ok");  // 4
    CHECK(run(sh, "X.") == "** exception error: variable 'X' is unbound");  // 5
    CHECK(run(sh, "Y.") == "{two,1}");  // 6
    CHECK(run(sh, "f().") == "ok");     // 7
    CHECK(run(sh, "Y.") == "** exception error: variable 'Y' is unbound");  // 8
    CHECK(run(sh, "v(2).") == "{two,1}");  // 9
    CHECK(run(sh, "v(-1).") == "{two,1}");  // 10: the value of 9
    CHECK(run(sh, "v(8).") == "** exception error: bad argument: statement 8 raised an exception: it has no value");
    CHECK(run(sh, "v(12).").find("** exception error: bad argument: no statement 12 before this one") == 0);
    CHECK(run(sh, "v(0).").find("** exception error: bad argument: no statement 0") == 0);
    CHECK(run(sh, "v(-9223372036854775808).").find("** exception error: bad argument: no statement") == 0);
    CHECK(run(sh, "e(1).") == "1");  // X = 1 again: X is bound
    CHECK(run(sh, "X.") == "1");
    CHECK(sh.next_number() == 17);
    // e(-1) of an e(-1) counts from the statement it re-runs, so it ends.
    CHECK(run(sh, "hello.") == "hello");  // 17
    CHECK(run(sh, "e(-1).") == "hello");  // 18
    CHECK(run(sh, "e(-1).") == "hello");  // 19: e(-1) as statement 18, which is 17
    // Numbers count statements, not eval() calls.
    CHECK(run_all(sh, "a. b. c.") == std::vector<std::string>{"a", "b", "c"});
    CHECK(sh.next_number() == 23);
}

TEST_CASE("node, nodes, ping, multicall and the Erlang names for them") {
    two_shells t;
    const auto port = t.serve();
    CHECK(run(t.sh2, fmt::format("{{ok, Srv}} = connect(localhost, [{{name, cl}}, {{port, {}}}], 1).", port)) ==
          "{ok,srv}");
    CHECK(run(t.sh2, "node().") == "node2");
    CHECK(run(t.sh2, "rot:node().") == "node2");
    CHECK(run(t.sh2, "erlang:node().") == "node2");
    CHECK(run(t.sh2, "nodes().") == "[srv]");
    CHECK(run(t.sh2, "erlang:nodes().") == "[srv]");
    CHECK(run(t.sh2, "ping(Srv).") == "pong");
    CHECK(run(t.sh2, "net_adm:ping(srv).") == "pong");
    const auto pang = t.sh2.eval("ping(nosuch).");
    CHECK(pang[0].line == "pang");
    CHECK(pang[0].ok);

    // One live peer and one that is not there.
    CHECK(run(t.sh2, "multicall([srv, nosuch], {math, echo, [hi]}).") == "{[hi],[nosuch]}");
    CHECK(run(t.sh2, "multicall([srv, srv], {math, echo, [hi]}, 1000).") == "{[hi,hi],[]}");
    CHECK(run(t.sh2, "rpc:multicall([srv, nosuch], math, echo, [hi]).") == "{[hi],[nosuch]}");
    CHECK(run(t.sh2, "multicall([srv], {math, nope, []}).") ==
          "{[{badrpc,{undef,\"undefined function math:nope/0\"}}],[]}");
    CHECK(run(t.sh2, "multicall([], {math, echo, [hi]}).") == "{[],[]}");
    CHECK(run(t.sh2, "multicall(srv, {math, echo, [hi]}).") ==
          "** exception error: bad argument: Nodes must be a list, got srv");

    CHECK(run(t.sh2, "rpc:call(srv, math, echo, [x]).") == "x");
    CHECK(run(t.sh2, "rpc:call(srv, math, sleep_ms, [100], 20).") ==
          "** exception error: timeout: no reply from srv within 20 ms");
    CHECK(run(t.sh2, "rpc:cast(srv, math, echo, [x]).") == "ok");
    // Names may be strings, the function's too.
    CHECK(run(t.sh2, "call(srv, {math, \"echo\", [1]}).") == "1");
    CHECK(run(t.sh2, "call(\"srv\", {\"math\", \"echo\", [1]}).") == "1");
    CHECK(run(t.sh2, "call(srv, {math, 42, [1]}).") == "** exception error: Function must be an atom, got 42");
}

TEST_CASE("ping answers pong for a jailed peer: an undefined function is an answer") {
    two_shells t;
    const auto port = t.serve(", {jail, math}");
    run(t.sh2, fmt::format("connect(localhost, [{{name, cl}}, {{port, {}}}], 1).", port));
    CHECK(run(t.sh2, "ping(srv).") == "pong");
}

TEST_CASE("tc times its argument, evaluated once and lazily") {
    two_shells t;
    const auto port = t.serve();
    run(t.sh2, fmt::format("connect(localhost, [{{name, cl}}, {{port, {}}}], 1).", port));
    const std::string timed = run(t.sh2, "{Us, ok} = tc(call(srv, {math, sleep_ms, [20]})).");
    std::smatch m;
    REQUIRE(std::regex_match(timed, m, std::regex(R"(\{(\d+),ok\})")));
    CHECK(std::stoll(m[1]) >= 20'000);
    CHECK(run(t.sh2, "Us >= 20000.") == "true");
    CHECK(run(t.sh2, "{_, bound} = tc(B = bound), B.") == "bound");
    CHECK(run(t.sh2, "tc(nosuch()).") == "** exception error: undefined shell command nosuch/0");
}

TEST_CASE("M:F(Args) calls this node's own module") {
    two_shells t;
    t.serve();
    CHECK(run(t.sh1, "math:echo({hello, [1]}).") == "{hello,[1]}");
    CHECK(run(t.sh1, "math:add(1, 2).") == "3");
    CHECK(run(t.sh1, "M = math, F = echo, M:F(dynamic).") == "dynamic");
    CHECK(run(t.sh1, "rot:ping().") == "pong");
    CHECK(run(t.sh1, "rot:node().") == "node1");
    CHECK(run(t.sh1, "rot:exports(math).") == "[{add,2},{echo,1},{mul,2},{sleep_ms,1}]");
    CHECK(run(t.sh1, "rot:memory().").find("resident_bytes => ") != std::string::npos);
    CHECK(run(t.sh1, "foo:bar().") == "** exception error: undefined function foo:bar/0");
    CHECK(run(t.sh1, "math:nope(1).") == "** exception error: undefined function math:nope/1");
    CHECK(run(t.sh1, "math:add(1, x).").find("** exception error: bad argument in math:add/2") == 0);
    CHECK(run(t.sh1, "X = 1, X:echo(2).") == "** exception error: bad argument: a module must be an atom, got 1");
    // As rpc:call(node(), ...) in Erlang.
    CHECK(run(t.sh1, "call(node(), {math, echo, [self]}).") == "self");
    CHECK(run(t.sh1, "rpc:call(node1, math, echo, [self]).") == "self");
    // It ran here, with no connection to itself.
    CHECK(run(t.sh1, "nodes().") == "[]");
    CHECK(t.n1.connections().empty());
}

TEST_CASE("M:F(Args) runs on a node without servers or connections, and gives up on interrupt()") {
    // Before the node: its handler may still be in wait() when the test ends.
    test::gate release;
    std::atomic<bool> running{false};
    lone_shell t;
    CHECK(t.n.load_module(ROT_MATH_MODULE).value() == std::vector<std::string>{"math"});
    CHECK(run(t.sh, "rot:node().") == "lone");
    CHECK(run(t.sh, "ping(node()).") == "pong");
    CHECK(run(t.sh, "foo:bar().") == "** exception error: undefined function foo:bar/0");
    CHECK(run(t.sh, "math:echo(1).") == "1");
    CHECK(run(t.sh, "math:add(1, 2).") == "3");
    CHECK(t.n.connections().empty());  // no connection to itself was needed
    const auto completions = t.sh.complete("math:e", 0, 6);
    CHECK(completions == std::vector<std::string>{"math:echo"});
    // A local call waits like a remote one, and gives up the same way.
    t.n.module("slow").def("wait", [&] {
        running = true;
        return release.wait();
    });
    std::thread interrupter([&] {
        CHECK(eventually([&] { return running.load(); }));  // the call is under way
        t.sh.interrupt();
    });
    const auto started = std::chrono::steady_clock::now();
    const auto out = t.sh.eval("slow:wait().");
    interrupter.join();
    REQUIRE(out.size() == 1);
    CHECK(out[0].interrupted);
    CHECK(std::chrono::steady_clock::now() - started < 2s);
    release.open();
}

TEST_CASE("syntax errors say where, in the statement") {
    lone_shell t;
    const auto error = [&](std::string_view input) { return run(t.sh, input); };
    CHECK(error("call(srv {math, add, [1,2]}).") ==
          "** exception error: syntax_error: 1:10: expected ',' or ')' but found '{'");
    CHECK(error("call(srv,\n  {math add}).") == "** exception error: syntax_error: 2:9: expected ',' or '}' but found add");
    CHECK(error("1 2.") == "** exception error: syntax_error: 1:3: expected ',' or '.' but found 2");
    CHECK(error("{.") == "** exception error: syntax_error: 1:2: expected an expression but found end of input");
    CHECK(error("foo(1, \"abc).") == "** exception error: syntax_error: 1:8: unterminated string");
    CHECK(error("X = {1, 99999999999999999999}.") ==
          "** exception error: syntax_error: 1:9: integer out of range (64-bit signed)");
    CHECK(error("x = \n  <<1, 256>>.") ==
          "** exception error: syntax_error: 2:8: binary element 256 is not an integer in 0..255");
    CHECK(error("f() = 1.") == "** exception error: syntax_error: 1:1: illegal pattern");
    CHECK(error("#{X => 1} = #{}.") == "** exception error: syntax_error: 1:3: a map key in a pattern must be a literal");
    CHECK(error("#{a := 1}.") ==
          "** exception error: syntax_error: 1:3: only '=>' builds a map (':=' is for patterns)");
    CHECK(error("math:1(2).") == "** exception error: syntax_error: 1:6: expected a function name but found 1");
    CHECK(error("a & b.") == "** exception error: syntax_error: 1:3: expected ',' or '.' but found '&'");
    // A statement with a syntax error is skipped; the next one runs.
    CHECK(run_all(t.sh, "{. ok.") ==
          std::vector<std::string>{"** exception error: syntax_error: 1:2: expected an expression but found end of input",
                                   "ok"});
    std::string deep(150, '[');
    CHECK(error(deep + ".").find("nested deeper than 100") != std::string::npos);
}

TEST_CASE("connect takes an ip tuple; not connected reads like the other failures") {
    two_shells t;
    const auto port = t.serve();
    CHECK(run(t.sh2, fmt::format("connect({{127,0,0,1}}, [{{name, cl}}, {{port, {}}}], 1).", port)) == "{ok,srv}");
    CHECK(run(t.sh2, "connect({127,0,0,256}, [{name, cl}]).") ==
          "** exception error: bad argument: an ip address part must be an integer in 0..255, got 256");
    CHECK(run(t.sh2, "disconnect(nosuch).") == "{error,{not_connected,\"not connected to nosuch\"}}");
    CHECK(run(t.sh2, "call(nosuch, {math, echo, [1]}).") ==
          "** exception error: not_connected: not connected to nosuch");
}

TEST_CASE("json: one line per result, failures as {\"error\": ...}") {
    node n(test_node("j"));
    shell sh(n, {}, {.json = true});
    CHECK(run(sh, "{ok, [1, -2.5, \"x\\\"y\\n\", <<\"bin\">>, <<255, 0>>, #{a => true, 1 => null}, [], {}]}.") ==
          R"(["ok",[1,-2.5,"x\"y\n","bin",{"$binary":"/wA="},{"1":"null","a":true},[],[]]])");
    CHECK(run(sh, "#{{k, 1} => false, \"s\" => 'quoted atom'}.") == R"({"{k,1}":false,"s":"quoted atom"})");
    CHECK(run(sh, "disconnect(nosuch).") ==
          R"({"error":{"kind":"not_connected","message":"not connected to nosuch"}})");
    CHECK(run(sh, "{error, timeout}.") == R"({"error":{"kind":"error","message":"timeout"}})");
    CHECK(run(sh, "foo:bar().") == R"({"error":{"kind":"undef","message":"undefined function foo:bar/0"}})");
    CHECK(run(sh, "{.") ==
          R"({"error":{"kind":"syntax_error","message":"1:2: expected an expression but found end of input"}})");
}

TEST_CASE("width: long values wrap like ~p, short ones stay on one line") {
    node n(test_node("w"));
    shell sh(n, {}, {.width = 40});
    CHECK(run(sh, "{ok, [1, 2, 3]}.") == "{ok,[1,2,3]}");
    const std::string text =
        "[{server, #{name => srv, ip => \"127.0.0.1\", port => 2222, acceptors => 10,"
        "            jails => [{guest, math}, {admin, rot}]}},"
        " {numbers, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]},"
        " {nested, {a, {b, {c, {d, [\"a string\", \"another string\", <<\"and a binary\">>]}}}}}].";
    const std::string wrapped = run(sh, text);
    const auto lines = lines_of(wrapped);
    CHECK(lines.size() > 8);
    for (const auto& line : lines) {
        CAPTURE(line);
        CHECK(line.size() <= 40);
    }
    // What is printed reads back as the same term.
    CHECK(parse_term(wrapped) == parse_term(std::string_view(text).substr(0, text.size() - 1)));
    // An element longer than the width cannot be broken: it overflows alone.
    const std::string long_atom = "'" + std::string(50, 'x') + "'";
    const auto overflow = lines_of(run(sh, fmt::format("{{a, {}, b}}.", long_atom)));
    CHECK(overflow == std::vector<std::string>{"{a,", " " + std::string(50, 'x') + ",", " b}"});
}

TEST_CASE("interrupt() gives up a call that waits, and the late reply is dropped") {
    test::gate release;  // before the nodes, whose handler waits on it
    two_shells t;
    t.n1.module("slow").def("wait", [&release] { return release.wait(); });
    const auto port = t.serve();
    run(t.sh2, fmt::format("connect(localhost, [{{name, cl}}, {{port, {}}}], 1).", port));

    std::thread interrupter([&] {
        // Once the call is in flight.
        CHECK(eventually([&] {
            const auto conns = t.n2.connections();
            return !conns.empty() && conns[0].calls_pending > 0;
        }));
        t.sh2.interrupt();
    });
    const auto started = std::chrono::steady_clock::now();
    const auto out = t.sh2.eval("X = call(srv, {slow, wait, []}, 5000).");
    const auto took = std::chrono::steady_clock::now() - started;
    interrupter.join();
    REQUIRE(out.size() == 1);
    CHECK(out[0].interrupted);
    CHECK_FALSE(out[0].ok);
    CHECK(out[0].line == "** interrupted: gave up waiting for srv");
    CHECK(took < 1s);
    CHECK(run(t.sh2, "X.") == "** exception error: variable 'X' is unbound");

    // The next eval starts afresh; the abandoned call's reply goes nowhere.
    release.open();
    CHECK(run(t.sh2, "call(srv, {math, echo, [next]}).") == "next");
    CHECK(eventually([&] { return total(t.n2, &connection_info::calls_pending) == 0; }));
    CHECK(run(t.sh2, "call(srv, {math, echo, [again]}).") == "again");
}

TEST_CASE("completion offers what runs") {
    two_shells t;
    t.serve();
    const auto at_end = [&](shell& sh, std::string_view line) {
        const auto start = line.find_last_of(" \t({[,") == std::string_view::npos ? 0 : line.find_last_of(" \t({[,") + 1;
        return sh.complete(line, start, line.size());
    };
    CHECK(at_end(t.sh1, "mul") == std::vector<std::string>{"multicall"});
    CHECK(at_end(t.sh1, "X = no") == std::vector<std::string>{"node", "nodes"});
    CHECK(at_end(t.sh1, "net_adm:") == std::vector<std::string>{"net_adm:ping"});
    CHECK(at_end(t.sh1, "rpc:c") == std::vector<std::string>{"rpc:call", "rpc:cast"});
    CHECK(at_end(t.sh1, "erlang:no") == std::vector<std::string>{"erlang:node", "erlang:nodes"});
    CHECK(at_end(t.sh1, "rot:no") == std::vector<std::string>{"rot:node", "rot:nodes"});
    // The node's own modules, once it is connected to itself (completion does not dial).
    CHECK(run(t.sh1, "math:echo(1).") == "1");
    CHECK(at_end(t.sh1, "math:m") == std::vector<std::string>{"math:mul"});
    CHECK(at_end(t.sh1, "rot:me") == std::vector<std::string>{"rot:memory"});
    CHECK(at_end(t.sh1, "rot:up") == std::vector<std::string>{"rot:uptime"});
    CHECK(at_end(t.sh1, "nosuch:").empty());
}
