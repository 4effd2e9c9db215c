#pragma once
// A child process with pipes to its stdin and stdout, for tests and rotbench,
// which need several processes. Reads have deadlines; the destructor always reaps.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace rot::tools {

class child_process {
public:
    /// Starts argv[0] (a path). With merge_stderr, stderr goes to the same pipe as stdout.
    explicit child_process(std::vector<std::string> argv, bool merge_stderr = false) {
        int in[2], out[2];
        if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in[0], 0);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        if (merge_stderr) posix_spawn_file_actions_adddup2(&actions, out[1], 2);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(in[0]);
        ::close(out[1]);
        stdin_ = in[1];
        stdout_ = out[0];
        if (rc != 0) {
            pid_ = -1;
            throw std::runtime_error("cannot spawn " + argv[0]);
        }
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    ~child_process() {
        close_stdin();
        if (stdout_ >= 0) ::close(stdout_);
        if (pid_ > 0 && !wait_exit(std::chrono::seconds(5))) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    void write(const std::string& s) {
        std::size_t done = 0;
        while (done < s.size()) {
            const auto n = ::write(stdin_, s.data() + done, s.size() - done);
            if (n <= 0) throw std::runtime_error("write to child failed");
            done += static_cast<std::size_t>(n);
        }
    }
    void close_stdin() {
        if (stdin_ >= 0) ::close(stdin_);
        stdin_ = -1;
    }

    /// The next line of the child's stdout (without '\n'), or nullopt at EOF
    /// or when `limit` passes first.
    std::optional<std::string> read_line(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{stdout_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char chunk[4096];
            const auto n = ::read(stdout_, chunk, sizeof chunk);
            if (n <= 0) return std::nullopt;
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    void signal(int sig) { ::kill(pid_, sig); }

    /// Everything the child writes until it closes its output (bounded by `limit`).
    std::string read_all(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        std::string all;
        while (auto line = read_line(limit)) all += *line + "\n";
        all += buffer_;
        buffer_.clear();
        return all;
    }

    /// Waits for the child to exit; true if it did within `limit`.
    bool wait_exit(std::chrono::milliseconds limit) {
        if (pid_ <= 0) return true;
        // A pidfd becomes readable when the child exits: wait on it with a deadline.
        const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
        if (pidfd >= 0) {
            pollfd p{pidfd, POLLIN, 0};
            ::poll(&p, 1, static_cast<int>(limit.count()));
            ::close(pidfd);
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pid_ = -1;
        return true;
    }
    /// Kills the child and reaps it.
    void kill() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        exit_code_ = 128 + SIGKILL;
        pid_ = -1;
    }

    /// The exit code once wait_exit() returned true (128 + signal if killed).
    [[nodiscard]] int exit_code() const noexcept { return exit_code_; }

private:
    pid_t pid_ = -1;
    int stdin_ = -1;
    int stdout_ = -1;
    int exit_code_ = -1;
    std::string buffer_;
};

}  // namespace rot::tools
