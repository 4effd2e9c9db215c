// The TOML config loader: every key, every default, every message.
// In the inline documents below, line 1 is the line holding R"( so that the
// line numbers in expected messages can be counted in this file.

#include <doctest/doctest.h>

#include <rot/config.hpp>
#include <rot/error.hpp>

#include <fmt/format.h>

#include <atomic>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>

using namespace rot;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The message of the rot::error a config throws ("no error" when it is valid).
std::string error_of(std::string_view text, const fs::path& source = "cfg.toml") {
    try {
        (void)parse_config(text, source);
    } catch (const rot::error& e) {
        CHECK(e.code() == errc::invalid_argument);
        return e.message();
    }
    return "no error";
}

bool starts_with(const std::string& s, std::string_view prefix) {
    return s.starts_with(prefix);
}

// A fresh directory under the system's temp dir, removed with what it holds.
struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<unsigned> counter{0};
        path = fs::temp_directory_path() /
               ("rot_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) +
                "_" + std::to_string(std::random_device{}()));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    fs::path write(const std::string& name, std::string_view text) const {
        const auto p = path / name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
};

}  // namespace

TEST_CASE("every key is read as written") {
    const config c = parse_config(R"(
[node]
name = "node1@host"
io_threads = 3
handler_threads = 7
cookie = "node secret"

[[server]]
name = "srv"
ip = "127.0.0.1"
port = 2223
acceptors = 5
jail = "math"
inline_handlers = true
max_connections = 100
max_handshakes = 10
[server.jails]
guest = "rot"
"other client" = "ets"
[server.cookies]
guest = "guest secret"
"other client" = "other secret"

[[server]]
ip = "::1"
port = 0
transport = "tls"
[server.tls]
certificate = "/etc/rot/node.pem"
private_key = "/etc/rot/node.key"
ca = "/etc/rot/ca.pem"
require_peer_certificate = true
check_node_name = true

[[connect]]
host = "example.org"
port = 4000
name = "cl"
connections = 2
jail = "callbacks"
link = true
server = "srv"
cookie = "cl's secret"
transport = "tls"
[connect.tls]
ca = "ca.pem"
verify_peer = false

[[connect]]

[modules]
load = ["/opt/rot/math.so", "rel/ets.so"]

[limits]
max_frame_bytes = 65536
call_timeout_ms = 250
connect_timeout_ms = 1500
max_requests_per_connection = 16
max_request_bytes_per_connection = 1048576
stalled_frame_timeout_ms = 700
heartbeat_interval_ms = 2000
dead_peer_timeout_ms = 9000
shutdown_grace_ms = 0

[log]
level = "debug"
)",
                                  "cfg.toml");
    CHECK(c.node.name == "node1@host");
    CHECK(c.node.io_threads == 3);
    CHECK(c.node.handler_threads == 7);
    CHECK(c.node.max_frame_bytes == 65536);
    CHECK(c.node.call_timeout == 250ms);
    CHECK(c.node.connect_timeout == 1500ms);
    CHECK(c.node.max_requests_per_connection == 16);
    CHECK(c.node.max_request_bytes_per_connection == 1048576);
    CHECK(c.node.stalled_frame_timeout == 700ms);
    CHECK(c.node.heartbeat_interval == 2000ms);
    CHECK(c.node.dead_peer_timeout == 9000ms);
    CHECK(c.node.shutdown_grace == 0ms);
    CHECK(c.node.cookie == "node secret");

    REQUIRE(c.servers.size() == 2);
    CHECK(c.servers[0].name == "srv");
    CHECK(c.servers[0].ip == "127.0.0.1");
    CHECK(c.servers[0].port == 2223);
    CHECK(c.servers[0].acceptors == 5);
    CHECK(c.servers[0].jail == "math");
    CHECK(c.servers[0].jails == std::map<std::string, std::string, std::less<>>{
                                    {"guest", "rot"}, {"other client", "ets"}});
    CHECK(c.servers[0].cookies == std::map<std::string, std::string, std::less<>>{
                                      {"guest", "guest secret"}, {"other client", "other secret"}});
    CHECK(c.servers[0].inline_handlers);
    CHECK(c.servers[0].max_connections == 100);
    CHECK(c.servers[0].max_handshakes == 10);
    CHECK(c.servers[0].transport == transport::tcp);
    CHECK(c.servers[1].transport == transport::tls);
    CHECK(c.servers[1].tls.certificate == "/etc/rot/node.pem");
    CHECK(c.servers[1].tls.private_key == "/etc/rot/node.key");
    CHECK(c.servers[1].tls.ca == "/etc/rot/ca.pem");
    CHECK(c.servers[1].tls.verify_peer);
    CHECK(c.servers[1].tls.require_peer_certificate);
    CHECK(c.servers[1].tls.check_node_name);
    CHECK(c.connects[0].options.cookie == "cl's secret");
    CHECK(c.connects[0].options.server == "srv");
    CHECK(c.connects[0].options.supervise);  // link = true keeps the pool up
    CHECK_FALSE(c.connects[1].options.supervise);
    CHECK(c.connects[0].options.transport == transport::tls);
    CHECK(c.connects[0].options.tls.ca == "ca.pem");  // in-memory text: kept as written
    CHECK_FALSE(c.connects[0].options.tls.verify_peer);
    CHECK(c.connects[1].options.transport == transport::tcp);
    CHECK(c.connects[1].options.cookie.empty());
    CHECK(c.servers[1].name.empty());  // the node fills in its own name
    CHECK(c.servers[1].ip == "::1");
    CHECK(c.servers[1].port == 0);
    CHECK(c.servers[1].acceptors == 10);
    CHECK(c.servers[1].jail.empty());
    CHECK(c.servers[1].jails.empty());
    CHECK(c.servers[1].max_connections == 10000);
    CHECK(c.servers[1].max_handshakes == 1000);

    REQUIRE(c.connects.size() == 2);
    CHECK(c.connects[0].host == "example.org");
    CHECK(c.connects[0].options.port == 4000);
    CHECK(c.connects[0].options.name == "cl");
    CHECK(c.connects[0].connections == 2);
    CHECK(c.connects[0].options.jail == "callbacks");
    CHECK(c.connects[0].link);
    CHECK(c.connects[1].host == "127.0.0.1");
    CHECK(c.connects[1].options.port == 2222);
    CHECK(c.connects[1].options.name.empty());
    CHECK(c.connects[1].connections == 4);
    CHECK(c.connects[1].options.jail.empty());
    CHECK_FALSE(c.connects[1].link);

    // "cfg.toml" has no directory part, so the relative path stays as written.
    CHECK(c.modules == std::vector<fs::path>{"/opt/rot/math.so", "rel/ets.so"});
    CHECK(c.log_level == "debug");
}

TEST_CASE("an empty file is all defaults") {
    for (std::string_view text :
         {"", "# nothing but a comment\n", "[node]\n[limits]\n[log]\n[modules]\n"}) {
        CAPTURE(text);
        const config c = parse_config(text, "empty.toml");
        const node_options d;
        CHECK(c.node.name == "nonode@nohost");
        CHECK(c.node.io_threads == d.io_threads);
        CHECK(c.node.handler_threads == 0);
        CHECK(c.node.max_frame_bytes == 4u << 20);
        CHECK(c.node.call_timeout == 5000ms);
        CHECK(c.node.connect_timeout == 5000ms);
        CHECK(c.node.max_requests_per_connection == 1024);
        CHECK(c.node.max_request_bytes_per_connection == 64u << 20);
        CHECK(c.servers.empty());
        CHECK(c.connects.empty());
        CHECK(c.modules.empty());
        CHECK(c.log_level == "warning");
    }
}

TEST_CASE("an empty [[server]] or [[connect]] takes every default") {
    const config c = parse_config("[[server]]\n[[connect]]\n", "cfg.toml");
    REQUIRE(c.servers.size() == 1);
    CHECK(c.servers[0].name.empty());
    CHECK(c.servers[0].ip == "0.0.0.0");
    CHECK(c.servers[0].port == 2222);
    CHECK(c.servers[0].acceptors == 10);
    CHECK(c.servers[0].jail.empty());
    CHECK(c.servers[0].jails.empty());
    REQUIRE(c.connects.size() == 1);
    CHECK(c.connects[0].host == "127.0.0.1");
    CHECK(c.connects[0].options.port == 2222);
    CHECK(c.connects[0].options.name.empty());
    CHECK(c.connects[0].options.jail.empty());
    CHECK(c.connects[0].connections == 4);
    CHECK_FALSE(c.connects[0].link);
}

TEST_CASE("unknown keys are named with their line; array elements count from 0") {
    CHECK(error_of(R"(
[node]
name = "a"
nmae = "b"
)") == "cfg.toml:4: node.nmae: unknown key (known: name, io_threads, handler_threads, cookie, cookie_file)");
    CHECK(error_of(R"(
[[server]]
port = 1

[[server]]
name = "b"
prot = 2
)") == "cfg.toml:7: server[1].prot: unknown key (known: name, ip, port, acceptors, jail, jails, cookies, "
           "inline_handlers, transport, tls, max_connections, max_handshakes)");
    CHECK(error_of(R"(
[nodes]
name = "a"
)") == "cfg.toml:2: nodes: unknown key (known: node, server, connect, modules, limits, log)");
    CHECK(error_of("verbose = true\n") ==
          "cfg.toml:1: verbose: unknown key (known: node, server, connect, modules, limits, log)");
    CHECK(starts_with(error_of("[[connect]]\nhost = \"h\"\nlinked = true\n"),
                      "cfg.toml:3: connect[0].linked: unknown key"));
    CHECK(starts_with(error_of("[limits]\ntimeout_ms = 1\n"),
                      "cfg.toml:2: limits.timeout_ms: unknown key"));
    CHECK(starts_with(error_of("[log]\nlevel = \"info\"\nfile = \"x\"\n"),
                      "cfg.toml:3: log.file: unknown key"));
    CHECK(starts_with(error_of("[modules]\nlaod = []\n"), "cfg.toml:2: modules.laod: unknown key"));
    CHECK(starts_with(error_of("[[server]]\n[server.ssl]\ncert = \"x\"\n"),
                      "cfg.toml:2: server[0].ssl: unknown key"));
    CHECK(starts_with(error_of("[[server]]\n[server.tls]\ncert = \"x\"\n"),
                      "cfg.toml:3: server[0].tls.cert: unknown key (known: certificate, private_key, ca,"));
    // Of several unknown keys the first in the file is reported, not the first alphabetically.
    CHECK(starts_with(error_of("[node]\nzz = 1\naa = 2\n"), "cfg.toml:2: node.zz: unknown key"));
}

TEST_CASE("values of the wrong type") {
    CHECK(error_of(R"(
[node]
name = "a"
io_threads = "two"
)") == "cfg.toml:4: node.io_threads: expected an integer, got string");
    CHECK(error_of("[[server]]\nport = 2222.0\n") ==
          "cfg.toml:2: server[0].port: expected an integer, got float");
    CHECK(error_of("[[server]]\nname = 7\n") ==
          "cfg.toml:2: server[0].name: expected a string, got integer");
    CHECK(error_of("[[connect]]\nlink = \"yes\"\n") ==
          "cfg.toml:2: connect[0].link: expected a boolean, got string");
    CHECK(error_of("node = 3\n") == "cfg.toml:1: node: expected a table, got integer");
    CHECK(error_of("\n[server]\nport = 1\n") ==
          "cfg.toml:2: server: expected an array of tables ([[server]]), got table");
    CHECK(error_of("connect = [1]\n") == "cfg.toml:1: connect[0]: expected a table, got integer");
    CHECK(error_of("[[server]]\njails = \"math\"\n") ==
          "cfg.toml:2: server[0].jails: expected a table, got string");
    CHECK(error_of("[log]\nlevel = 1\n") ==
          "cfg.toml:2: log.level: expected a string, got integer");
    CHECK(error_of("[limits]\ncall_timeout_ms = 1970-01-01\n") ==
          "cfg.toml:2: limits.call_timeout_ms: expected an integer, got date");
}

TEST_CASE("integers out of range") {
    CHECK(error_of(R"(
[node]
name = "a"

[[server]]
name = "s"

[[server]]
name = "t"
port = 70000
)") == "cfg.toml:10: server[1].port: 70000 is out of range (0..65535)");
    CHECK(error_of("[[server]]\nport = -1\n") ==
          "cfg.toml:2: server[0].port: -1 is out of range (0..65535)");
    CHECK(error_of("[node]\nio_threads = 0\n") ==
          "cfg.toml:2: node.io_threads: 0 is out of range (1..256)");
    CHECK(error_of("[node]\nio_threads = 257\n") ==
          "cfg.toml:2: node.io_threads: 257 is out of range (1..256)");
    CHECK(error_of("[node]\nhandler_threads = 4097\n") ==
          "cfg.toml:2: node.handler_threads: 4097 is out of range (0..4096)");
    CHECK(error_of("[node]\nhandler_threads = -1\n") ==
          "cfg.toml:2: node.handler_threads: -1 is out of range (0..4096)");
    CHECK(error_of("[[server]]\nacceptors = 0\n") ==
          "cfg.toml:2: server[0].acceptors: 0 is out of range (1..1024)");
    CHECK(error_of("[[server]]\nacceptors = 1025\n") ==
          "cfg.toml:2: server[0].acceptors: 1025 is out of range (1..1024)");
    CHECK(error_of("[[connect]]\nconnections = 0\n") ==
          "cfg.toml:2: connect[0].connections: 0 is out of range (1..1024)");
    CHECK(error_of("[[connect]]\nconnections = 1025\n") ==
          "cfg.toml:2: connect[0].connections: 1025 is out of range (1..1024)");
    CHECK(error_of("[[connect]]\nport = 0\n") ==
          "cfg.toml:2: connect[0].port: 0 is out of range (1..65535)");
    CHECK(error_of("[[connect]]\nport = 65536\n") ==
          "cfg.toml:2: connect[0].port: 65536 is out of range (1..65535)");
    CHECK(error_of("[limits]\nmax_frame_bytes = 4095\n") ==
          "cfg.toml:2: limits.max_frame_bytes: 4095 is out of range (4096..67108864)");
    CHECK(error_of("[limits]\nmax_frame_bytes = 67108865\n") ==
          "cfg.toml:2: limits.max_frame_bytes: 67108865 is out of range (4096..67108864)");
    CHECK(error_of("[limits]\ncall_timeout_ms = 0\n") ==
          "cfg.toml:2: limits.call_timeout_ms: 0 is out of range (1..86400000)");
    CHECK(error_of("[limits]\nconnect_timeout_ms = -5\n") ==
          "cfg.toml:2: limits.connect_timeout_ms: -5 is out of range (1..86400000)");
    CHECK(error_of("[limits]\ncall_timeout_ms = 86400001\n") ==
          "cfg.toml:2: limits.call_timeout_ms: 86400001 is out of range (1..86400000)");
    CHECK(error_of("[limits]\nmax_requests_per_connection = 0\n") ==
          "cfg.toml:2: limits.max_requests_per_connection: 0 is out of range (1..1048576)");
    CHECK(error_of("[limits]\nmax_request_bytes_per_connection = 4095\n") ==
          "cfg.toml:2: limits.max_request_bytes_per_connection: 4095 is out of range (4096..1099511627776)");

    // The bounds themselves are fine.
    const config c = parse_config(R"(
[node]
io_threads = 256
handler_threads = 4096
[[server]]
port = 65535
acceptors = 1024
[[connect]]
port = 1
connections = 1024
[limits]
max_frame_bytes = 67108864
call_timeout_ms = 1
connect_timeout_ms = 86400000
)",
                                  "cfg.toml");
    CHECK(c.node.io_threads == 256);
    CHECK(c.node.handler_threads == 4096);
    CHECK(c.servers[0].port == 65535);
    CHECK(c.servers[0].acceptors == 1024);
    CHECK(c.connects[0].connections == 1024);
    CHECK(c.node.max_frame_bytes == max_frame_ceiling);
    CHECK(c.node.call_timeout == 1ms);
    CHECK(c.node.connect_timeout == 86'400'000ms);
    CHECK(parse_config("[limits]\nmax_frame_bytes = 4096\n", "cfg.toml").node.max_frame_bytes ==
          4096);
}

TEST_CASE("names: given means 1 to 255 bytes") {
    const std::string long_name(256, 'x');
    CHECK(error_of("[node]\nname = \"\"\n") == "cfg.toml:2: node.name: must not be empty");
    CHECK(error_of("[node]\nname = \"" + long_name + "\"\n") ==
          "cfg.toml:2: node.name: is 256 bytes long (at most 255)");
    CHECK(parse_config("[node]\nname = \"" + long_name.substr(1) + "\"\n", "cfg.toml")
              .node.name.size() == 255);
    CHECK(error_of("[[server]]\nname = \"\"\n") == "cfg.toml:2: server[0].name: must not be empty");
    CHECK(error_of("[[server]]\njail = \"\"\n") == "cfg.toml:2: server[0].jail: must not be empty");
    CHECK(error_of("[[connect]]\nname = \"\"\n") ==
          "cfg.toml:2: connect[0].name: must not be empty");
    CHECK(error_of("[[connect]]\njail = \"" + long_name + "\"\n") ==
          "cfg.toml:2: connect[0].jail: is 256 bytes long (at most 255)");
    CHECK(error_of("[[connect]]\nhost = \"\"\n") ==
          "cfg.toml:2: connect[0].host: must not be empty");
}

TEST_CASE("per-client jails and cookies") {
    CHECK(error_of(R"(
[[server]]
name = "srv"
[server.jails]
guest = "rot"
admin = ""
)") == "cfg.toml:6: server[0].jails.admin: must not be empty");
    // A jail for a name anyone may claim would be escaped by claiming another.
    CHECK(error_of(R"(
[[server]]
name = "srv"
[server.cookies]
guest = "g"
[server.jails]
guest = "rot"
admin = "ets"
)") == "cfg.toml:8: server[0].jails.admin: client admin has a jail but no cookie of its own (server[0].cookies): "
           "a per-client jail holds only for a client that proves its name");
    CHECK(error_of("[[server]]\n[server.cookies]\nguest = \"\"\n") ==
          "cfg.toml:3: server[0].cookies.guest: must be 1 to 1024 bytes (it is 0)");
    CHECK(error_of("[[server]]\n[server.cookies]\nguest = 7\n") ==
          "cfg.toml:3: server[0].cookies.guest: expected a string, got integer");
    CHECK(error_of("[[server]]\n[server.jails]\nguest = 1\n") ==
          "cfg.toml:3: server[0].jails.guest: expected a string, got integer");
    CHECK(error_of("[[server]]\n[server.jails]\n\"\" = \"rot\"\n") ==
          "cfg.toml:3: server[0].jails.\"\": must not be empty");
    CHECK(parse_config("[[server]]\njails = { guest = \"rot\" }\ncookies = { guest = \"g\" }\n", "cfg.toml")
              .servers[0]
              .jails.at("guest") == "rot");
}

TEST_CASE("listen addresses are IPv4 or IPv6 literals") {
    for (const char* ok : {"0.0.0.0", "127.0.0.1", "::", "::1", "fe80::1", "::ffff:10.0.0.1"}) {
        CAPTURE(ok);
        CHECK(parse_config(std::string("[[server]]\nip = \"") + ok + "\"\n", "cfg.toml")
                  .servers[0]
                  .ip == ok);
    }
    CHECK(error_of("[[server]]\nip = \"256.1.1.1\"\n") ==
          "cfg.toml:2: server[0].ip: \"256.1.1.1\" is not an IPv4 or IPv6 address");
    CHECK(error_of("[[server]]\nip = \"localhost\"\n") ==
          "cfg.toml:2: server[0].ip: \"localhost\" is not an IPv4 or IPv6 address");
    CHECK(error_of("[[server]]\nip = \"[::1]\"\n") ==
          "cfg.toml:2: server[0].ip: \"[::1]\" is not an IPv4 or IPv6 address");
    CHECK(starts_with(error_of("[[server]]\nip = \"\"\n"), "cfg.toml:2: server[0].ip: "));
    CHECK(starts_with(error_of("[[server]]\nip = \"127.0.0.1\\u0000x\"\n"),
                      "cfg.toml:2: server[0].ip: "));
}

TEST_CASE("log level") {
    for (const char* level : {"debug", "info", "warning", "error", "none"}) {
        CAPTURE(level);
        CHECK(
            parse_config(std::string("[log]\nlevel = \"") + level + "\"\n", "cfg.toml").log_level ==
            level);
    }
    CHECK(error_of("\n[log]\nlevel = \"verbose\"\n") ==
          "cfg.toml:3: log.level: \"verbose\" is not one of debug, info, warning, error, none");
    CHECK(starts_with(error_of("[log]\nlevel = \"Info\"\n"),
                      "cfg.toml:2: log.level: \"Info\" is not one of"));
}

TEST_CASE("server names must differ, the node's name counting for unnamed servers") {
    CHECK(error_of(R"(
[[server]]
name = "srv"
port = 1

[[server]]
name = "srv"
port = 2
)") == "cfg.toml:7: server[1].name: duplicate server name \"srv\" (also server[0])");
    CHECK(error_of(R"(
[node]
name = "n"
[[server]]
port = 1
[[server]]
port = 2
)") == "cfg.toml:6: server[1].name: duplicate server name \"n\" (also server[0]; an unnamed server "
       "takes the "
       "node's name)");
    CHECK(error_of(R"(
[[server]]
[[server]]
name = "nonode@nohost"
)") == "cfg.toml:4: server[1].name: duplicate server name \"nonode@nohost\" (also server[0])");
    CHECK(parse_config("[[server]]\n[[server]]\nname = \"second\"\n", "cfg.toml").servers.size() ==
          2);
}

TEST_CASE("modules.load is an array of strings") {
    CHECK(error_of("[modules]\nload = \"math.so\"\n") ==
          "cfg.toml:2: modules.load: expected an array of strings, got string");
    CHECK(error_of(R"(
[modules]
load = [
  "math.so",
  3,
]
)") == "cfg.toml:5: modules.load[1]: expected a string, got integer");
    CHECK(error_of("[modules]\nload = [\"\"]\n") ==
          "cfg.toml:2: modules.load[0]: must not be empty");
    CHECK(parse_config("[modules]\nload = []\n", "cfg.toml").modules.empty());
}

TEST_CASE("TOML syntax errors give line and column") {
    const auto m = error_of("[node]\nname = \"a\"\nio_threads = \n", "bad.toml");
    CHECK(starts_with(m, "bad.toml:3:"));
    CHECK(m.find(": TOML syntax error: ") != std::string::npos);
    CHECK(starts_with(error_of("[node]\nname = \"a\"\nname = \"b\"\n", "dup.toml"), "dup.toml:3:"));
    CHECK(starts_with(error_of("[[server]\n", "x/y.toml"), "x/y.toml:1:"));
    CHECK(error_of("[node]\nname = \"a\"\nio_threads = 2 3\n")
              .find("cfg.toml:3:16: TOML syntax error: ") == 0);
}

TEST_CASE("load_config reads a file and names it in messages") {
    const temp_dir dir;
    const auto good = dir.write("node.toml", "[node]\nname = \"from_file\"\n");
    CHECK(load_config(good).node.name == "from_file");

    const auto bad = dir.write("bad.toml", "\n[node]\nio_threads = 0\n");
    try {
        (void)load_config(bad);
        FAIL("no error");
    } catch (const rot::error& e) {
        CHECK(e.code() == errc::invalid_argument);
        CHECK(e.message() == bad.string() + ":3: node.io_threads: 0 is out of range (1..256)");
    }

    const auto missing = dir.path / "missing.toml";
    try {
        (void)load_config(missing);
        FAIL("no error");
    } catch (const rot::error& e) {
        CHECK(e.code() == errc::invalid_argument);
        CHECK(e.message() ==
              missing.string() + ": cannot read config file: No such file or directory");
    }
    try {
        (void)load_config(dir.path);
        FAIL("no error");
    } catch (const rot::error& e) {
        CHECK(e.message() == dir.path.string() + ": cannot read config file: Is a directory");
    }
}

TEST_CASE("relative module paths: next to the config file when there, else left for load_module to find") {
    const temp_dir dir;
    fs::create_directory(dir.path / "etc");
    fs::create_directory(dir.path / "lib");
    dir.write("etc/math.so", "");
    dir.write("lib/ets.so", "");
    const auto file = dir.write("etc/node.toml", R"(
[modules]
load = ["math.so", "../lib/ets.so", "/abs/olute.so", "rot_math.so"]
)");
    // rot_math.so is not next to the file: node::load_module looks for it
    // (working directory, ROT_MODULE_PATH, beside the program).
    CHECK(load_config(file).modules == std::vector<fs::path>{dir.path / "etc" / "math.so",
                                                             dir.path / "etc" / "../lib/ets.so",
                                                             "/abs/olute.so", "rot_math.so"});

    // parse_config anchors them the same way when its source's directory has them...
    const auto text = "[modules]\nload = [\"math.so\"]\n";
    CHECK(parse_config(text, dir.path / "etc" / "virtual.toml").modules ==
          std::vector<fs::path>{dir.path / "etc" / "math.so"});
    // ...and keeps them as written when it does not, or when there is none.
    CHECK(parse_config(text, dir.path / "nowhere" / "x.toml").modules ==
          std::vector<fs::path>{"math.so"});
    CHECK(parse_config(text, "x.toml").modules == std::vector<fs::path>{"math.so"});
    CHECK(parse_config(text, "").modules == std::vector<fs::path>{"math.so"});
}

TEST_CASE("cookie and TLS files are relative to the config file; a cookie file others may read is refused") {
    const temp_dir dir;
    fs::create_directory(dir.path / "etc");
    const auto secret = dir.write("etc/cl.cookie", "cl's own secret\n");
    fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
    const auto file = dir.write("etc/node.toml", R"(
[node]
cookie_file = "node.cookie"
[[server]]
transport = "tls"
tls = { certificate = "pki/node.pem", private_key = "/abs/node.key" }
[[connect]]
cookie_file = "cl.cookie"
tls = { ca = "pki/ca.pem" }
)");
    const config c = load_config(file);
    CHECK(c.node.cookie_file == (dir.path / "etc" / "node.cookie").string());  // read when the node starts
    CHECK(c.servers[0].tls.certificate == (dir.path / "etc" / "pki/node.pem").string());
    CHECK(c.servers[0].tls.private_key == "/abs/node.key");
    CHECK(c.connects[0].options.tls.ca == (dir.path / "etc" / "pki/ca.pem").string());
    CHECK(c.connects[0].options.cookie == "cl's own secret");

    fs::permissions(secret, fs::perms::group_read, fs::perm_options::add);
    try {
        (void)load_config(file);
        FAIL("no error");
    } catch (const rot::error& e) {
        CHECK(e.message() == fmt::format("{}:8: connect[0].cookie_file: cookie file {} has mode 0640: it must be "
                                         "readable by its owner only (chmod 600 {})",
                                         file.string(), secret.string(), secret.string()));
    }
    CHECK(error_of("[node]\ncookie = \"a\"\ncookie_file = \"b\"\n") ==
          "cfg.toml:3: node.cookie_file: give cookie or cookie_file, not both");
    CHECK(error_of("[[server]]\ntransport = \"tls\"\n") ==
          "cfg.toml:2: server[0].tls: a TLS server needs tls.certificate and tls.private_key");
    CHECK(error_of("[[connect]]\ntransport = \"ssl\"\n") ==
          "cfg.toml:2: connect[0].transport: \"ssl\" is not one of tcp, tls");
    CHECK(error_of("[limits]\nheartbeat_interval_ms = 5000\ndead_peer_timeout_ms = 5000\n") ==
          "cfg.toml:3: limits.dead_peer_timeout_ms: dead_peer_timeout_ms (5000) must be more than "
          "heartbeat_interval_ms (5000)");
}

#ifdef ROT_CONFIG_DIR
TEST_CASE("every shipped config/*.toml is valid") {
    std::size_t files = 0;
    for (const auto& entry : fs::directory_iterator(ROT_CONFIG_DIR)) {
        if (entry.path().extension() != ".toml") continue;
        CAPTURE(entry.path().string());
        CHECK_NOTHROW((void)load_config(entry.path()));
        ++files;
    }
    CHECK(files >= 4);

    // The walk-through pair fits together: b dials the server a starts.
    const fs::path dir(ROT_CONFIG_DIR);
    const auto a = load_config(dir / "two_nodes_a.toml");
    const auto b = load_config(dir / "two_nodes_b.toml");
    CHECK(a.node.name == "node1");
    REQUIRE(a.servers.size() == 1);
    CHECK(a.servers[0].name == "srv");
    CHECK(a.servers[0].ip == "127.0.0.1");
    CHECK(a.servers[0].port == 2223);
    CHECK(b.node.name == "node2");
    REQUIRE(b.connects.size() == 1);
    CHECK(b.connects[0].options.name == "cl");
    CHECK(b.connects[0].options.port == a.servers[0].port);

    const auto jailed = load_config(dir / "jailed.toml");
    REQUIRE(jailed.servers.size() == 1);
    CHECK(jailed.servers[0].jail == "math");
    CHECK(jailed.servers[0].jails.at("guest") == "rot");

    // full.toml promises its values are the defaults where it does not say otherwise.
    const auto full = load_config(dir / "full.toml");
    const node_options d;
    CHECK(full.node.io_threads == d.io_threads);
    CHECK(full.node.handler_threads == d.handler_threads);
    CHECK(full.node.max_frame_bytes == d.max_frame_bytes);
    CHECK(full.node.call_timeout == d.call_timeout);
    CHECK(full.node.connect_timeout == d.connect_timeout);
    CHECK(full.node.max_requests_per_connection == d.max_requests_per_connection);
    CHECK(full.node.max_request_bytes_per_connection == d.max_request_bytes_per_connection);
    CHECK(full.log_level == config{}.log_level);
    REQUIRE(full.servers.size() == 1);
    CHECK(full.servers[0].ip == server_options{}.ip);
    CHECK(full.servers[0].port == server_options{}.port);
    CHECK(full.servers[0].acceptors == server_options{}.acceptors);
    REQUIRE(full.connects.size() == 1);
    CHECK(full.connects[0].host == connect_spec{}.host);
    CHECK(full.connects[0].connections == connect_spec{}.connections);
    CHECK(full.connects[0].link == connect_spec{}.link);
}
#endif
