#include "auth.hpp"

#include <rot/error.hpp>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <vector>

namespace rot::detail {

namespace {
[[noreturn]] void fail(std::string message) { throw error(errc::invalid_argument, message); }

std::string errno_text(int e) { return std::generic_category().message(e); }

// Closes a descriptor when it goes out of scope.
struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

// Writes a new cookie file atomically: a private temporary file, then a hard
// link to the final name, which fails if another node got there first (then
// the other node's cookie is the one both use).
void create_cookie_file(const std::filesystem::path& path) {
    const nonce bytes = random_nonce();
    std::string text;
    for (const auto b : bytes) text += fmt::format("{:02x}", b);
    text += '\n';
    std::string tmp = path.string() + ".XXXXXX";
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) fail(fmt::format("cannot create cookie file {}: {}", path.string(), errno_text(errno)));
    fd_guard guard{fd};
    struct unlink_tmp {
        const std::string& p;
        ~unlink_tmp() { ::unlink(p.c_str()); }
    } cleanup{tmp};
    if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0 ||
        ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) || ::fsync(fd) != 0)
        fail(fmt::format("cannot write cookie file {}: {}", path.string(), errno_text(errno)));
    if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST)
        fail(fmt::format("cannot create cookie file {}: {}", path.string(), errno_text(errno)));
}
}  // namespace

nonce random_nonce() {
    nonce n;
    if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1)
        throw error(errc::auth_failed, "authentication needs random numbers and OpenSSL has none to give");
    return n;
}

mac hmac_sha256(std::string_view key, std::initializer_list<std::span<const std::uint8_t>> parts) {
    // One-shot HMAC over the parts, without copying them together.
    EVP_MAC* algorithm = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* ctx = algorithm ? EVP_MAC_CTX_new(algorithm) : nullptr;
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
    mac out{};
    std::size_t len = 0;
    bool ok = ctx && EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) == 1;
    for (const auto& p : parts) ok = ok && EVP_MAC_update(ctx, p.data(), p.size()) == 1;
    ok = ok && EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size();
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(algorithm);
    if (!ok) throw error(errc::auth_failed, "OpenSSL cannot compute HMAC-SHA256");
    return out;
}

bool same_mac(const mac& expected, std::span<const std::uint8_t> received) noexcept {
    return received.size() == expected.size() && CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

std::uint64_t key_id(std::string_view key) {
    static constexpr std::string_view label = "rot key id";
    const mac h = hmac_sha256(label, {{reinterpret_cast<const std::uint8_t*>(key.data()), key.size()}});
    std::uint64_t id = 0;
    std::memcpy(&id, h.data(), sizeof id);
    return id;
}

void check_cookie(std::string_view cookie, std::string_view what) {
    if (cookie.empty() || cookie.size() > max_cookie_bytes)
        fail(fmt::format("{} must be 1 to {} bytes (it is {})", what, max_cookie_bytes, cookie.size()));
}

std::string read_cookie_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) fail(fmt::format("cannot read cookie file {}: {}", path.string(), errno_text(errno)));
    fd_guard guard{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail(fmt::format("cannot read cookie file {}: {}", path.string(), errno_text(errno)));
    if (!S_ISREG(st.st_mode)) fail(fmt::format("cookie file {} is not a regular file", path.string()));
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        fail(fmt::format("cookie file {} has mode {:04o}: it must be readable by its owner only (chmod 600 {})",
                         path.string(), st.st_mode & 07777, path.string()));
    std::string text;
    char buf[512];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(fmt::format("cannot read cookie file {}: {}", path.string(), errno_text(errno)));
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > 2 * max_cookie_bytes)
            fail(fmt::format("cookie file {} is longer than {} bytes", path.string(), max_cookie_bytes));
    }
    text = text.substr(0, text.find('\n'));
    while (!text.empty() && std::strchr(" \t\r", text.back())) text.pop_back();
    if (text.empty()) fail(fmt::format("cookie file {} is empty", path.string()));
    check_cookie(text, fmt::format("the cookie in {}", path.string()));
    return text;
}

std::filesystem::path home_directory() {
    if (const char* home = std::getenv("HOME"); home && *home) return home;
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_dir)
        return found->pw_dir;
    return {};
}

std::string resolve_cookie(const node_options& options, const char* env_cookie, const std::filesystem::path& home) {
    if (!options.cookie.empty()) {
        check_cookie(options.cookie, "the node's cookie");
        return options.cookie;
    }
    if (!options.cookie_file.empty()) return read_cookie_file(options.cookie_file);
    if (env_cookie && *env_cookie) {
        check_cookie(env_cookie, "ROT_COOKIE");
        return env_cookie;
    }
    if (home.empty())
        fail("no cookie: give one (node_options::cookie, ROT_COOKIE) or a home directory for ~/.rot.cookie");
    const auto path = home / ".rot.cookie";
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) fail(fmt::format("cannot read cookie file {}: {}", path.string(), errno_text(errno)));
        create_cookie_file(path);
    }
    return read_cookie_file(path);
}

}  // namespace rot::detail
