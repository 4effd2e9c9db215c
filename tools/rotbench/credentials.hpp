#pragma once
// What one run proves itself with, made fresh by the orchestrator: a random
// cookie for its rot nodes (never the user's ~/.rot.cookie) and, for --tls, a
// throwaway CA and a server certificate it signed.

#include <string>

namespace rotbench {

/// The environment variable that carries the run's cookie to the roles. Not
/// a command-line argument: another user may read those (ps), not this.
inline constexpr const char* cookie_variable = "ROTBENCH_COOKIE";

/// 32 bytes from OpenSSL's random generator, as 64 hex digits.
[[nodiscard]] std::string random_cookie();

/// The PEM files of a run over TLS, in the directory a tls_directory made.
struct tls_files {
    std::string ca;           ///< the CA's certificate: clients verify the server with it
    std::string certificate;  ///< the server's certificate
    std::string private_key;  ///< the server's private key
};
[[nodiscard]] tls_files tls_files_in(const std::string& dir);

/// A fresh private directory (mkdtemp under $TMPDIR or /tmp, mode 0700)
/// holding a new EC P-256 CA certificate and a server certificate signed by it
/// (CN=localhost, subjectAltName IP:127.0.0.1 and DNS:localhost, valid from an
/// hour ago for a day) with its key: the files of tls_files_in(path()). The
/// CA's key is never written. The directory is removed when this goes, or when
/// SIGINT, SIGTERM or SIGHUP ends the process first. One at a time; throws
/// std::runtime_error when something cannot be made.
class tls_directory {
  public:
    tls_directory();
    ~tls_directory();
    tls_directory(const tls_directory&) = delete;
    tls_directory& operator=(const tls_directory&) = delete;

    [[nodiscard]] const std::string& path() const noexcept { return path_; }

  private:
    std::string path_;
};

}  // namespace rotbench
