// rotsh at a terminal: tmux runs it, send-keys types, capture-pane reads.

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
    terminal() : socket_(fmt::format("rot_tty_test_{}", ::getpid())) {}
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
        REQUIRE(t.shows("node2>"));
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
        CHECK(eventually([&] { return t.current_line() == "node2> call(srv, {math, add, [1, 2]})."; }));
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
        REQUIRE(t.shows("node2>"));
        t.key("Up");
        CHECK(eventually([&] { return t.current_line() == "node2> q()."; }));
    }
    std::filesystem::remove_all(home);
}
