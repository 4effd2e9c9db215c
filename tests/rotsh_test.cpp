// rotsh as users run it: over pipes, with -e, --serve and config files.

#include <rot/async.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "child_process.hpp"
#include "support.hpp"

using namespace rot;
using namespace rot::test;
using rot::tools::child_process;

namespace {

/// A scratch directory removed at the end of the test.
struct scratch {
    std::filesystem::path dir;
    scratch() {
        dir = std::filesystem::temp_directory_path() /
              fmt::format("rotsh_test_{}_{}", ::getpid(), reinterpret_cast<std::uintptr_t>(this));
        std::filesystem::create_directories(dir);
    }
    ~scratch() { std::filesystem::remove_all(dir); }
    std::string file(std::string_view name, std::string_view text) const {
        const auto p = dir / name;
        std::ofstream(p) << text;
        return p.string();
    }
};

/// rotsh in script mode; say() sends one line and returns the one line it answers.
struct rotsh_process {
    child_process p;
    explicit rotsh_process(std::vector<std::string> args, bool merge_stderr = false)
        : p(with_rotsh(std::move(args)), merge_stderr) {}
    static std::vector<std::string> with_rotsh(std::vector<std::string> args) {
        args.insert(args.begin(), ROTSH);
        return args;
    }
    std::string say(const std::string& line) {
        p.write(line + "\n");
        auto answer = p.read_line();
        REQUIRE(answer);
        return *answer;
    }
    /// The port of one of this node's servers, from servers().
    std::uint16_t port(std::string_view server) {
        const std::string servers = say("servers().");
        std::smatch m;
        REQUIRE(std::regex_search(servers, m, std::regex(fmt::format("name => {},port => (\\d+)", server))));
        return static_cast<std::uint16_t>(std::stoi(m[1]));
    }
};

/// An asynchronous call whose result a test can wait for with a deadline.
std::future<result<term>> async_call_future(node& n, std::string peer, mfa request) {
    return std::async(std::launch::async, [&n, peer = std::move(peer), request = std::move(request)] {
        return n.try_call(peer, request, 30s);
    });
}

}  // namespace

TEST_CASE("two rotsh processes: the seed transcript over pipes") {
    rotsh_process node1({"--name", "node1"});
    rotsh_process node2({"--name", "node2"});
    CHECK(node1.say(fmt::format("load_module(\"{}\").", ROT_MATH_MODULE)) == "{ok,[math]}");
    CHECK(node1.say("rot:start_server([{name, srv}, {ip, \"127.0.0.1\"}, {port, 0}]).") == "{ok,srv}");
    const auto port = node1.port("srv");
    CHECK(node2.say(fmt::format("rot:connect(localhost, [{{name, cl}}, {{port, {}}}]).", port)) == "{ok,srv}");
    CHECK(node2.say("rot:connected().") == "[srv]");
    CHECK(node2.say("rot:call(srv, {rot, node, []}).") == "node1");
    CHECK(node1.say("rot:connected().") == "[cl]");
    CHECK(node1.say("rot:call(cl, {rot, node, []}).") == "node2");
    CHECK(node2.say("call(srv, {math, add, [1, 2]}).") == "3");
    // Both end cleanly at end of input.
    node2.p.close_stdin();
    node1.p.close_stdin();
    REQUIRE(node2.p.wait_exit(10s));
    REQUIRE(node1.p.wait_exit(10s));
    CHECK(node2.p.exit_code() == 0);
    CHECK(node1.p.exit_code() == 0);
}

TEST_CASE("the jail example across processes") {
    rotsh_process node1({"--name", "node1"});
    rotsh_process node2({"--name", "node2"});
    CHECK(node1.say(fmt::format("load_module(\"{}\").", ROT_MATH_MODULE)) == "{ok,[math]}");
    CHECK(node1.say("start_server([{name, srv}, {ip, \"127.0.0.1\"}, {port, 0}, {jail, math}]).") == "{ok,srv}");
    const auto port = node1.port("srv");
    CHECK(node2.say(fmt::format("connect(localhost, [{{name, cl}}, {{port, {}}}]).", port)) == "{ok,srv}");
    CHECK(node2.say("rot:call(srv, {rot, memory, []}).") == "** exception error: undefined function math:memory/0");
}

TEST_CASE("scripts: one line per expression, exit 1 at the first failure") {
    {
        rotsh_process sh({"--name", "s"});
        sh.p.write("connected().\n1 2.\nconnected().\n");
        CHECK(sh.p.read_line() == "[]");
        const auto err = sh.p.read_line();
        REQUIRE(err);
        CHECK(err->rfind("** exception error: syntax_error: 1:3:", 0) == 0);
        CHECK(sh.p.read_line() == std::nullopt);  // stopped at the failure
        REQUIRE(sh.p.wait_exit(10s));
        CHECK(sh.p.exit_code() == 1);
    }
    {
        rotsh_process sh({"--name", "s", "--keep-going"});
        sh.p.write("call(nobody, {m, f, []}).\nconnected().\n");
        sh.p.close_stdin();
        CHECK(sh.p.read_line() == "** exception error: not_connected: not connected to nobody");
        CHECK(sh.p.read_line() == "[]");
        REQUIRE(sh.p.wait_exit(10s));
        CHECK(sh.p.exit_code() == 1);
    }
    {
        rotsh_process sh({"--name", "s"});
        sh.p.write("connected(). modules().\nq().\nconnected().\n");
        CHECK(sh.p.read_line() == "[]");
        CHECK(sh.p.read_line() == "[rot]");
        CHECK(sh.p.read_line() == "ok");
        REQUIRE(sh.p.wait_exit(10s));
        CHECK(sh.p.exit_code() == 0);
    }
}

TEST_CASE("-e evaluates and exits") {
    {
        child_process sh({ROTSH, "--name", "e1", "-e", "rot:call(x, {a, b, []})"});
        CHECK(sh.read_line() == "** exception error: not_connected: not connected to x");
        REQUIRE(sh.wait_exit(10s));
        CHECK(sh.exit_code() == 1);
    }
    {
        child_process sh({ROTSH, "--name", "e2", "-e", "modules(). connected()."});
        CHECK(sh.read_line() == "[rot]");
        CHECK(sh.read_line() == "[]");
        REQUIRE(sh.wait_exit(10s));
        CHECK(sh.exit_code() == 0);
    }
    {
        child_process sh({ROTSH, "--cookie", "a", "--cookie-file", "b", "-e", "ok."}, true);
        CHECK(sh.read_all().find("give --cookie or --cookie-file, not both") != std::string::npos);
        REQUIRE(sh.wait_exit(10s));
        CHECK(sh.exit_code() == 2);
    }
    {
        child_process sh({ROTSH, "--bogus"}, true);
        CHECK(sh.read_all().find("unknown argument --bogus") != std::string::npos);
        REQUIRE(sh.wait_exit(10s));
        CHECK(sh.exit_code() == 2);
    }
}

TEST_CASE("--serve runs the configured node until SIGTERM, then stops cleanly") {
    scratch s;
    // The served node dials us, so we need no port of its: connections are symmetric.
    node us(test_node("us"));
    const auto port = us.start_server(test_server("hub")).port;
    const auto cfg = s.file("serve.toml", fmt::format(R"(
[node]
name = "served"
cookie = "{}"
[[server]]
name = "srv"
ip = "127.0.0.1"
port = 0
[[connect]]
host = "127.0.0.1"
port = {}
name = "served_cl"
connections = 2
[modules]
load = ["{}"]
)", test_cookie, port, ROT_MATH_MODULE));
    child_process served({ROTSH, "--config", cfg, "--serve"});
    REQUIRE(eventually([&] { return us.connected("served_cl") == 2; }, 10s));
    CHECK(us.call<int>("served_cl", {"math", "add", {1, 2}}) == 3);
    CHECK(us.call("served_cl", {"rot", "node", {}}) == term(atom("served")));

    // A call in flight when the node stops fails at once; the node exits 0.
    auto slow = async_call_future(us, "served_cl", {"math", "sleep_ms", {3000}});
    REQUIRE(eventually([&] { return total(us, &connection_info::calls_pending) == 1; }));
    served.signal(SIGTERM);
    REQUIRE(slow.wait_for(10s) == std::future_status::ready);
    const auto r = slow.get();
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::disconnected);
    REQUIRE(served.wait_exit(10s));
    CHECK(served.exit_code() == 0);
    CHECK(eventually([&] { return us.connected().empty(); }));
}

TEST_CASE("--serve keeps a linked pool up: it dials again when its server comes back") {
    scratch s;
    node us(test_node("us"));
    const auto port = us.start_server(test_server("hub")).port;
    const auto cfg = s.file("linked.toml", fmt::format(R"(
[node]
name = "linked"
cookie = "{}"
[[connect]]
host = "127.0.0.1"
port = {}
name = "linked_cl"
connections = 1
link = true
)", test_cookie, port));
    child_process served({ROTSH, "--config", cfg, "--serve"}, true);
    REQUIRE(eventually([&] { return us.connected("linked_cl") == 1; }, 10s));
    us.stop_server("hub");
    CHECK(eventually([&] { return us.connected("linked_cl") == 0; }));
    // The same port again: the pool dials it after its backoff (1 s +/- 20 %).
    auto again = test_server("hub");
    again.port = port;
    (void)us.start_server(again);
    CHECK(eventually([&] { return us.connected("linked_cl") == 1; }, 5s));
    CHECK(us.call("linked_cl", {"rot", "node", {}}) == term(atom("linked")));
    // The lines come from on_peer_down/on_peer_up on rotsh's I/O thread,
    // which may run after our call is answered: read until "up" shows.
    std::string said;
    while (said.find("rotsh: hub is up") == std::string::npos)
        if (const auto line = served.read_line(10s)) said += *line + "\n";
        else break;
    CHECK(said.find("rotsh: hub is down") != std::string::npos);
    CHECK(said.find("rotsh: hub is up") != std::string::npos);
    served.signal(SIGTERM);
    REQUIRE(served.wait_exit(10s));
    CHECK(served.exit_code() == 0);
}

TEST_CASE("--serve: SIGTERM with 1,000 queued calls ends within the grace period; a second signal at once") {
    scratch s;
    const auto cfg = [&](int grace_ms) {
        return s.file(fmt::format("grace{}.toml", grace_ms), fmt::format(R"(
[node]
name = "busy"
cookie = "{}"
handler_threads = 2
[[server]]
name = "srv"
ip = "127.0.0.1"
port = 0
[modules]
load = ["{}"]
[limits]
shutdown_grace_ms = {}
)", test_cookie, ROT_MATH_MODULE, grace_ms));
    };
    // The served node's port, asked of it over a connection it dials to us.
    node us(test_node("us"));
    const auto hub = us.start_server(test_server("hub")).port;
    const auto with_hub = [&](const std::string& file) {
        std::ofstream(file, std::ios::app) << fmt::format("[[connect]]\nport = {}\nname = \"busy\"\nconnections = 1\n", hub);
        return file;
    };
    {
        child_process served({ROTSH, "--config", with_hub(cfg(1000)), "--serve"}, true);
        REQUIRE(eventually([&] { return us.connected("busy") == 1; }, 10s));
        std::atomic<int> ended{0};
        for (int i = 0; i < 1000; ++i)
            async_call(us, "busy", {"math", "sleep_ms", {100}}, 60s, [&](std::error_code, term) { ++ended; });
        REQUIRE(eventually([&] { return total(us, &connection_info::calls_pending) == 1000; }));
        served.signal(SIGTERM);
        const auto signalled = std::chrono::steady_clock::now();
        REQUIRE(served.wait_exit(5s));
        CHECK(std::chrono::steady_clock::now() - signalled < 2s);  // grace 1 s, and a second
        CHECK(served.exit_code() == 0);
        CHECK(eventually([&] { return ended == 1000; }));  // every call ended, none hangs
    }
    {
        // A handler that outlives any grace: the second signal does not wait for it.
        child_process served({ROTSH, "--config", with_hub(cfg(20000)), "--serve"}, true);
        REQUIRE(eventually([&] { return us.connected("busy") == 1; }, 10s));
        async_call(us, "busy", {"math", "sleep_ms", {30000}}, 60s, [](std::error_code, term) {});
        // Running, not only sent: a request not started when SIGTERM comes is dropped at once.
        const auto running = [&] {
            return us.call("busy", {"rot", "memory", {}}, 2s).find(atom("handlers_running"))->as_int();
        };
        REQUIRE(eventually([&] { return running() == 1; }, 10s));
        served.signal(SIGTERM);
        CHECK_FALSE(served.wait_exit(300ms));  // waiting for the handler, within its grace
        served.signal(SIGINT);
        const auto again = std::chrono::steady_clock::now();
        REQUIRE(served.wait_exit(5s));
        CHECK(std::chrono::steady_clock::now() - again < 1s);
    }
}

TEST_CASE("config errors name the file, line and key; rotsh exits 2 without starting") {
    scratch s;
    const auto cfg = s.file("bad.toml", "[node]\nname = \"x\"\n\n[[server]]\nname = \"srv\"\nprot = 1\n");
    child_process sh({ROTSH, "--config", cfg, "-e", "connected()."}, true);
    const auto out = sh.read_all();
    CHECK(out.find(cfg + ":6: server[0].prot: unknown key") != std::string::npos);
    CHECK(out.find("[]") == std::string::npos);  // nothing was evaluated
    REQUIRE(sh.wait_exit(10s));
    CHECK(sh.exit_code() == 2);

    const auto typed = s.file("typed.toml", "[limits]\ncall_timeout_ms = \"soon\"\n");
    child_process sh2({ROTSH, "--config", typed, "--serve"}, true);
    CHECK(sh2.read_all().find(typed + ":2: limits.call_timeout_ms: expected an integer") != std::string::npos);
    REQUIRE(sh2.wait_exit(10s));
    CHECK(sh2.exit_code() == 2);

    child_process sh3({ROTSH, "--config", (s.dir / "missing.toml").string()}, true);
    CHECK(sh3.read_all().find("cannot read config file") != std::string::npos);
    REQUIRE(sh3.wait_exit(10s));
    CHECK(sh3.exit_code() == 2);
}

TEST_CASE("a config's modules and connections are ready before the first expression") {
    scratch s;
    node us(test_node("us"));
    us.module("far").def("hi", [] { return atom("hello"); });
    const auto port = us.start_server(test_server("hub")).port;
    const auto cfg = s.file("ready.toml", fmt::format(R"(
[node]
name = "ready"
[[connect]]
port = {}
[modules]
load = ["{}"]
)", port, ROT_MATH_MODULE));
    child_process sh({ROTSH, "--config", cfg, "--cookie", test_cookie, "-e", "modules(). call(hub, {far, hi, []})."},
                     true);
    CHECK(sh.read_all().find("[math,rot]\nhello\n") != std::string::npos);
    REQUIRE(sh.wait_exit(10s));
    CHECK(sh.exit_code() == 0);
}

TEST_CASE("a config that cannot be carried out exits 2 before anything starts") {
    scratch s;
    // A port nobody listens on: a server's, closed again.
    std::uint16_t dead_port = 0;
    {
        node gone(test_node("gone"));
        dead_port = gone.start_server(test_server("gone")).port;
    }
    const std::vector<std::pair<std::string, std::string>> broken = {
        {"[modules]\nload = [\"/no/such/module.so\"]\n", "cannot load module /no/such/module.so: no such file"},
        {fmt::format("[[connect]]\nport = {}\n", dead_port), fmt::format("127.0.0.1:{}", dead_port)},
    };
    for (const auto& [text, why] : broken) {
        // The server would start before the connection is tried: it must not outlive the failure.
        const auto cfg = s.file("broken.toml", "[[server]]\nname = \"srv\"\nip = \"127.0.0.1\"\nport = 0\n" + text);
        child_process sh({ROTSH, "--config", cfg, "--cookie", test_cookie, "-e", "servers()."}, true);
        const auto out = sh.read_all();
        CHECK_MESSAGE(out.find(why) != std::string::npos, out);
        CHECK(out.find("name => srv") == std::string::npos);  // nothing was evaluated
        REQUIRE(sh.wait_exit(10s));
        CHECK(sh.exit_code() == 2);
    }
}

TEST_CASE("plugins are found beside rotsh, in ROT_MODULE_PATH, and a config elsewhere loads them") {
    scratch s;
    // From another working directory, by file name only.
    child_process here({"/bin/sh", "-c", fmt::format("cd / && exec {} -e 'load_module(\"rot_math.so\").'", ROTSH)}, true);
    CHECK(here.read_all() == "{ok,[math]}\n");
    const auto plugins = std::filesystem::path(ROT_TAKES_ROT_MODULE).parent_path();
    child_process path({"/usr/bin/env", "ROT_MODULE_PATH=/nowhere:" + plugins.string(), ROTSH, "-e",
                        fmt::format("load_module(\"{}\").", std::filesystem::path(ROT_NO_ENTRY_MODULE).filename().string())},
                       true);
    CHECK(path.read_all().find("no rot_plugin_init entry point") != std::string::npos);  // found, and refused
    // A bare file name in the working directory is that file (dlopen alone would search the system's paths).
    child_process cwd({"/bin/sh", "-c",
                       fmt::format("cd {} && exec {} -e 'load_module(\"{}\").'", plugins.string(), ROTSH,
                                   std::filesystem::path(ROT_NO_ENTRY_MODULE).filename().string())},
                      true);
    CHECK(cwd.read_all().find("no rot_plugin_init entry point") != std::string::npos);
    child_process missing({ROTSH, "-e", "load_module(\"rot_nothing.so\")."}, true);
    CHECK(missing.read_all().find("cannot load module rot_nothing.so: no such file in the working directory") !=
          std::string::npos);

    // The quick start's config, given by an absolute path from elsewhere (its
    // port made free and its connection left out).
    std::ifstream in(fmt::format("{}/config/default.toml", ROT_SOURCE_DIR));
    std::stringstream text;
    text << in.rdbuf();
    std::string t = std::regex_replace(text.str(), std::regex("port = 2222"), "port = 0");
    t = t.substr(0, t.find("[[connect]]")) + t.substr(t.find("[modules]"));
    const auto cfg = s.file("default.toml", t);
    child_process sh({"/bin/sh", "-c", fmt::format("cd / && exec {} --config {} -e 'modules().'", ROTSH, cfg)}, true);
    CHECK(sh.read_all() == "[math,rot]\n");
    REQUIRE(sh.wait_exit(10s));
    CHECK(sh.exit_code() == 0);
}

TEST_CASE("rotsh without --name is rotsh_<pid>: one-off scripted calls never clash") {
    node srv(test_node("srv_node"));
    const auto port = srv.start_server(test_server("srv")).port;
    const auto connect = fmt::format("connect(\"127.0.0.1\", [{{port, {}}}], 1).", port);
    rotsh_process first({"--cookie", test_cookie});
    CHECK(first.say(connect) == "{ok,srv}");
    child_process second({ROTSH, "--cookie", test_cookie, "-e", connect, "-e", "node()."}, true);
    const auto out = second.read_all();
    CHECK(std::regex_search(out, std::regex("^\\{ok,srv\\}\nrotsh_[0-9]+\n$")));
    REQUIRE(second.wait_exit(10s));
    CHECK(second.exit_code() == 0);
    CHECK(first.say("node().") != "nonode@nohost");
}

TEST_CASE("--serve evaluates -e first, then serves; a failing -e is the job failing") {
    node us(test_node("us"));
    const auto port = us.start_server(test_server("hub")).port;
    child_process served({ROTSH, "--name", "served", "--cookie", test_cookie, "--serve", "-e",
                          fmt::format("connect(\"127.0.0.1\", [{{name, served_cl}}, {{port, {}}}], 1).", port)});
    CHECK(served.read_line() == "{ok,hub}");
    CHECK(us.call("served_cl", {"rot", "node", {}}) == term(atom("served")));
    served.signal(SIGTERM);
    REQUIRE(served.wait_exit(10s));
    CHECK(served.exit_code() == 0);

    child_process failing({ROTSH, "--cookie", test_cookie, "--serve", "-e", "call(nobody, {m, f, []})."});
    CHECK(failing.read_line().value_or("").starts_with("** exception error: not_connected"));
    REQUIRE(failing.wait_exit(10s));
    CHECK(failing.exit_code() == 1);
}

TEST_CASE("the jailed example config works as shipped") {
    scratch s;
    std::ifstream in(fmt::format("{}/config/jailed.toml", ROT_SOURCE_DIR));
    std::stringstream text;
    text << in.rdbuf();
    const auto cfg = s.file("jailed.toml", std::regex_replace(text.str(), std::regex("# port = 2222"), "port = 0"));
    rotsh_process calc({"--config", cfg, "--cookie", test_cookie});
    const auto port = calc.port("srv");
    rotsh_process client({"--name", "client", "--cookie", test_cookie});
    CHECK(client.say(fmt::format("connect(\"127.0.0.1\", [{{port, {}}}], 1).", port)) == "{ok,srv}");
    CHECK(client.say("call(srv, {add, [1, 2]}).") == "3");
    CHECK(client.say("call(srv, {rot, add, [1, 2]}).") == "3");  // the jail decides, not the caller
    CHECK(client.say("call(srv, {math, add, [9223372036854775807, 1]}).")
              .starts_with("** exception error: bad argument in math:add/2: integer overflow"));
}

TEST_CASE("logging: info tells connects, disconnects and stops; debug each call") {
    scratch s;
    node us(test_node("us"));
    const auto port = us.start_server(test_server("hub")).port;
    const auto cfg = s.file("log.toml", "[log]\nlevel = \"debug\"\n");
    child_process sh({ROTSH, "--name", "talker", "--cookie", test_cookie, "--config", cfg, "-e",
                      fmt::format("connect(\"127.0.0.1\", [{{port, {}}}], 1).", port), "-e",
                      "call(hub, {shop, nope, [1]}).", "--keep-going", "-e", "disconnect(hub).", "-e",
                      fmt::format("connect(\"127.0.0.1\", [{{name, other}}, {{port, {}}}, {{cookie, \"wrong\"}}], 1).",
                                  port)},
                     true);
    const auto out = sh.read_all();
    CHECK(out.find(fmt::format("info: connect to 127.0.0.1:{}: refused: authentication failed", port)) !=
          std::string::npos);
    CHECK_MESSAGE(out.find("hub is up") != std::string::npos, out);
    CHECK(out.find("call #") != std::string::npos);
    CHECK(out.find("shop:nope/1") != std::string::npos);
    CHECK(out.find("disconnecting from hub") != std::string::npos);

    const auto info = s.file("info.toml", "[log]\nlevel = \"info\"\n[[server]]\nip = \"127.0.0.1\"\nport = 0\n");
    child_process served({ROTSH, "--name", "served", "--cookie", test_cookie, "--config", info, "--serve"}, true);
    CHECK(served.read_line().value_or("").find("server served listening on 127.0.0.1:") != std::string::npos);
    served.signal(SIGTERM);
    CHECK(served.read_all().find("SIGTERM: stopping") != std::string::npos);
    REQUIRE(served.wait_exit(10s));
    CHECK(served.exit_code() == 0);
}

TEST_CASE("--version, --format json, --timeout; a port in use is bind_failed") {
    child_process version({ROTSH, "--version"});
    CHECK(std::regex_match(version.read_all(), std::regex("rotsh [0-9]+\\.[0-9]+\\.[0-9]+ \\(rot protocol [0-9]+\\)\n")));

    gate release;  // before the node, whose handler waits on it
    node srv(test_node("srv_node"));
    srv.module("slow").def("wait", [&release](std::int64_t) { return release.wait(); });
    const auto port = srv.start_server(test_server("srv")).port;
    const auto connect = fmt::format("connect(\"127.0.0.1\", [{{port, {}}}], 1).", port);
    child_process json({ROTSH, "--cookie", test_cookie, "--format", "json", "-e", connect, "-e", "help().", "-e",
                        "call(srv, {rot, node, []}).", "-e", "call(srv, {slow, nope, []})."});
    CHECK(json.read_all() == "[\"ok\",\"srv\"]\n\"ok\"\n\"srv_node\"\n"
                             "{\"error\":{\"kind\":\"undef\",\"message\":\"undefined function slow:nope/0\"}}\n");

    child_process quick({ROTSH, "--cookie", test_cookie, "--timeout", "100", "-e", connect, "-e",
                         "call(srv, {slow, wait, [3000]})."});
    const auto out = quick.read_all();
    CHECK(out.find("** exception error: timeout: no reply from srv within 100 ms") != std::string::npos);
    release.open();

    child_process bad({ROTSH, "--timeout", "soon"}, true);
    CHECK(bad.read_all().find("--timeout takes milliseconds") != std::string::npos);
    REQUIRE(bad.wait_exit(10s));
    CHECK(bad.exit_code() == 2);

    child_process clash({ROTSH, "-e", fmt::format("start_server([{{ip, \"127.0.0.1\"}}, {{port, {}}}]).", port)});
    CHECK(clash.read_all().starts_with("{error,{bind_failed,\""));
}

TEST_CASE("Ctrl-C in a script gives up the call, says goodbye to peers and exits 130") {
    node srv(test_node("srv_node"));
    std::promise<void> release;
    srv.module("slow").def("wait", [done = release.get_future().share()] {
        (void)done.wait_for(20s);
        return atom("done");
    });
    const auto port = srv.start_server(test_server("srv")).port;
    rotsh_process sh({"--name", "scripted", "--cookie", test_cookie});
    CHECK(sh.say(fmt::format("connect(\"127.0.0.1\", [{{port, {}}}], 1).", port)) == "{ok,srv}");
    sh.p.write("call(srv, {slow, wait, []}, infinity).\n");
    REQUIRE(eventually([&] { return total(srv, &connection_info::requests_running) == 1; }));
    sh.p.signal(SIGINT);
    REQUIRE(sh.p.wait_exit(5s));
    CHECK(sh.p.exit_code() == 130);
    CHECK(eventually([&] { return srv.connected().empty(); }));
    release.set_value();
}

TEST_CASE("the TLS example configs work as shipped, with a PKI made by scripts/make-test-ca") {
    scratch s;
    REQUIRE(std::system(fmt::format("{}/scripts/make-test-ca {} node1 node2", ROT_SOURCE_DIR, (s.dir / "pki").string())
                            .c_str()) == 0);
    const auto copy = [&](std::string_view name) {
        std::ifstream in(fmt::format("{}/config/{}", ROT_SOURCE_DIR, name));
        std::stringstream text;
        text << in.rdbuf();
        // Port 0 instead of the example's fixed port; the math module from the build.
        std::string t = std::regex_replace(text.str(), std::regex("port = 2224"), "port = 0");
        t = std::regex_replace(t, std::regex("\"rot_math.so\""), fmt::format("\"{}\"", ROT_MATH_MODULE));
        return s.file(name, t);
    };
    rotsh_process server({"--config", copy("tls_server.toml"), "--cookie", test_cookie});
    const auto port = server.port("srv");
    std::string client_config = copy("tls_client.toml");
    {
        std::ifstream in(client_config);
        std::stringstream text;
        text << in.rdbuf();
        std::ofstream(client_config) << std::regex_replace(text.str(), std::regex("port = 0"),
                                                           fmt::format("port = {}", port));
    }
    rotsh_process client({"--config", client_config, "--cookie", test_cookie});
    CHECK(client.say("call(srv, {math, add, [1, 2]}).") == "3");
    CHECK(client.say("connections().").find("transport => tls") != std::string::npos);
    CHECK(server.say("call(cl, {rot, node, []}).") == "node2");

    // A plaintext client is told why it is refused, and so is a wrong cookie.
    rotsh_process plain({"--name", "plain", "--cookie", test_cookie});
    CHECK(plain.say(fmt::format("connect(\"127.0.0.1\", [{{port, {}}}]).", port))
              .starts_with("{error,{tls_failed,\""));
    rotsh_process wrong({"--name", "node2", "--cookie", "wrong"});
    CHECK(wrong.say(fmt::format("connect(\"127.0.0.1\", [{{port, {}}}, {{transport, tls}}, {{cacertfile, \"{}\"}}, "
                                "{{certfile, \"{}\"}}, {{keyfile, \"{}\"}}]).",
                                port, (s.dir / "pki/ca.pem").string(), (s.dir / "pki/node2.pem").string(),
                                (s.dir / "pki/node2.key").string()))
              .starts_with("{error,{auth_failed,\"connect to 127.0.0.1:"));
}
