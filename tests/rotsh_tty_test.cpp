// rotsh at a terminal: tmux runs it, send-keys types, capture-pane reads.

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support.hpp"

using namespace rot;
using namespace rot::test;

namespace {

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

/// A private tmux server, killed with everything in it at the end.
class terminal {
public:
    // A server of its own each: a new one on the socket of one just killed
    // may find it still going away, and fail to start.
    terminal() : socket_(fmt::format("rot_tty_test_{}_{}", ::getpid(), next_id())) {}
    ~terminal() { (void)run("kill-server"); }

    std::string run(const std::string& args) const {
        const std::string command = fmt::format("tmux -L {} {} 2>&1", socket_, args);
        std::string out;
        if (FILE* p = ::popen(command.c_str(), "r")) {
            char buf[4096];
            while (const auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
            ::pclose(p);
        }
        return out;
    }
    void start(const std::string& command) const {
        run(fmt::format("new-session -d -s t -x 160 -y 40 {}", shell_quote(command)));
    }
    void type(const std::string& text) const { run(fmt::format("send-keys -t t -l {}", shell_quote(text))); }
    void key(const std::string& name) const { run("send-keys -t t " + name); }
    std::string screen() const { return run("capture-pane -p -t t"); }
    /// The screen with lines the terminal wrapped joined again: what the program wrote.
    std::string written() const { return run("capture-pane -p -J -t t"); }
    /// The screen once it shows `text` (or the last screen when time runs out).
    bool shows(const std::string& text, std::chrono::milliseconds limit = 10s) const {
        return eventually([&] { return screen().find(text) != std::string::npos; }, limit);
    }
    /// The line the cursor is on, without trailing blanks.
    std::string current_line() const {
        std::istringstream lines(screen());
        std::string line, last;
        while (std::getline(lines, line))
            if (line.find_first_not_of(' ') != std::string::npos) last = line;
        return last.substr(0, last.find_last_not_of(' ') + 1);
    }

private:
    static int next_id() {
        static std::atomic<int> id{0};
        return ++id;
    }
    std::string socket_;
};

}  // namespace

TEST_CASE("rotsh at a terminal: prompt, tab completion of a remote function, history") {
    REQUIRE_MESSAGE(std::system("tmux -V > /dev/null 2>&1") == 0, "tmux is needed (scripts/deps installs it)");
    const auto home = std::filesystem::temp_directory_path() / fmt::format("rotsh_tty_{}", ::getpid());
    std::filesystem::create_directories(home);
    {
        // rotsh finds its cookie in its home, as a user's shell would.
        std::ofstream(home / ".rot.cookie") << test_cookie << "\n";
        std::filesystem::permissions(home / ".rot.cookie", std::filesystem::perms::owner_read |
                                                               std::filesystem::perms::owner_write);
    }

    node n1(test_node("node1"));
    REQUIRE(n1.load_module(ROT_MATH_MODULE));
    const auto port = n1.start_server(test_server("srv")).port;
    const std::string rotsh = fmt::format("env HOME={} TERM=xterm {} --name node2", home.string(), ROTSH);
    {
        terminal t;
        t.start(rotsh);
        REQUIRE_MESSAGE(t.shows("node2 1>"), t.screen() << t.run("list-sessions"));
        t.type(fmt::format("connect(localhost, [{{name, cl}}, {{port, {}}}], 1).", port));
        t.key("Enter");
        REQUIRE(t.shows("{ok,srv}"));

        // Tab completes the function from what srv exports.
        t.type("call(srv, {math, a");
        t.key("Tab");
        REQUIRE_MESSAGE(t.shows("call(srv, {math, add"), t.screen());
        t.type(", [1, 2]}).");
        t.key("Enter");
        REQUIRE(t.shows("\n3\n"));

        // Up brings the last line back.
        t.key("Up");
        CHECK(eventually([&] { return t.current_line() == "node2 3> call(srv, {math, add, [1, 2]})."; }));
        t.key("C-u");
        t.type("q().");
        t.key("Enter");
        CHECK(eventually([&] { return t.run("has-session -t t").find("can't find") != std::string::npos ||
                                      t.run("has-session -t t").find("no server") != std::string::npos; }));
    }
    std::ifstream history(home / ".rot_history");
    std::stringstream saved;
    saved << history.rdbuf();
    CHECK(saved.str().find("call(srv, {math, add, [1, 2]}).") != std::string::npos);
    {
        // The next session starts with that history.
        terminal t;
        t.start(rotsh);
        REQUIRE_MESSAGE(t.shows("node2 1>"), t.screen() << t.run("list-sessions"));
        t.key("Up");
        CHECK(eventually([&] { return t.current_line() == "node2 1> q()."; }));
    }
    std::filesystem::remove_all(home);
}

TEST_CASE("rotsh at a terminal: UTF-8, statements over lines, numbered prompts, Ctrl-C and Ctrl-D") {
    REQUIRE_MESSAGE(std::system("tmux -V > /dev/null 2>&1") == 0, "tmux is needed (scripts/deps installs it)");
    const auto home = std::filesystem::temp_directory_path() / fmt::format("rotsh_tty2_{}", ::getpid());
    std::filesystem::create_directories(home);
    node n1(test_node("node1"));
    REQUIRE(n1.load_module(ROT_MATH_MODULE));
    const auto port = n1.start_server(test_server("srv")).port;
    // No UTF-8 locale in the environment: rotsh reads UTF-8 all the same.
    const std::string rotsh = fmt::format("env -u LANG -u LC_ALL -u LC_CTYPE HOME={} TERM=xterm {} --name node2 "
                                          "--cookie '{}'; echo EXIT $?; sleep 60",
                                          home.string(), ROTSH, test_cookie);
    {
        terminal t;
        t.start(rotsh);
        REQUIRE_MESSAGE(t.shows("node2 1>"), t.screen() << t.run("list-sessions"));
        t.type("\"héllo wörld ✓\".");
        t.key("Enter");
        REQUIRE_MESSAGE(t.shows("\n\"héllo wörld ✓\"\n"), t.screen());
        t.type(fmt::format("connect(localhost, [{{name, cl}}, {{port, {}}}], 1).", port));
        t.key("Enter");
        REQUIRE_MESSAGE(t.shows("{ok,srv}\nnode2 3>"), t.screen());

        // A statement goes on over lines until its dot.
        t.type("call(srv, {math, add,");
        t.key("Enter");
        REQUIRE(t.shows("node2 3> call(srv, {math, add,\nnode2 3>"));
        t.type(" [1, 2]}).");
        t.key("Enter");
        REQUIRE(t.shows("\n3\nnode2 4>"));

        // Ctrl-C at a prompt drops the line; the shell stays.
        t.type("abc");
        t.key("C-c");
        REQUIRE(t.shows("(Ctrl-C again to quit)\nnode2 4>"));
        // During a call, it gives up that call only.
        t.type("call(srv, {math, sleep_ms, [3000]}, infinity).");
        t.key("Enter");
        REQUIRE(eventually([&] { return total(n1, &connection_info::requests_running) == 1; }));
        t.key("C-c");
        REQUIRE_MESSAGE(t.shows("** interrupted"), t.screen());
        REQUIRE(t.shows("node2 5>"));
        t.type("call(srv, {rot, node, []}).");
        t.key("Enter");
        REQUIRE(t.shows("\nnode1\nnode2 6>"));

        // A value too wide for the terminal is wrapped by rotsh, like ~p.
        std::string wide = "{";
        for (char c = 'a'; c < 'i'; ++c) wide += std::string(25, c) + ", ";
        wide += "end}.";
        t.type(wide);
        t.key("Enter");
        REQUIRE(t.shows("node2 7>"));
        const std::string out = t.written();
        const auto begin = out.find('\n', out.find("node2 6> {")) + 1;
        std::istringstream value(out.substr(begin, out.find("node2 7>") - begin));
        int lines = 0;
        for (std::string line; std::getline(value, line); ++lines) CHECK(line.size() <= 160);
        CHECK(lines >= 2);

        // Ctrl-D ends the session on a line of its own.
        t.key("C-d");
        REQUIRE_MESSAGE(t.shows("node2 7>\nEXIT 0"), t.screen());
    }
    CHECK(eventually([&] { return n1.connected().empty(); }));
    {
        // Ctrl-C twice in a row at a prompt stops the node: its peers are told goodbye.
        terminal t;
        t.start(rotsh);
        REQUIRE_MESSAGE(t.shows("node2 1>"), t.screen() << t.run("list-sessions"));
        t.type(fmt::format("connect(localhost, [{{name, cl}}, {{port, {}}}], 1).", port));
        t.key("Enter");
        REQUIRE(t.shows("{ok,srv}"));
        REQUIRE(eventually([&] { return n1.connected("cl") == 1; }));
        t.key("C-c");
        REQUIRE(t.shows("(Ctrl-C again to quit)"));
        t.key("C-c");
        REQUIRE_MESSAGE(t.shows("EXIT 0"), t.screen());
        CHECK(eventually([&] { return n1.connected().empty(); }));
    }
    std::filesystem::remove_all(home);
}
