// The run's cookie and TLS certificates, made with OpenSSL's C API.

#include "credentials.hpp"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

namespace rotbench {

namespace {

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using x509_ptr = std::unique_ptr<X509, decltype(&X509_free)>;

// Throws with OpenSSL's newest error in words, and clears its queue.
[[noreturn]] void openssl_failed(std::string_view what) {
    char reason[256] = "unknown OpenSSL error";
    if (const unsigned long e = ERR_get_error()) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    throw std::runtime_error(fmt::format("TLS certificates: {}: {}", what, reason));
}

void check(bool ok, std::string_view what) {
    if (!ok) openssl_failed(what);
}

// ---- certificates -----------------------------------------------------------------

pkey_ptr new_p256_key() {
    pkey_ptr key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    check(key != nullptr, "generating an EC P-256 key");
    return key;
}

// A random positive 127-bit serial: two certificates of one issuer never share one.
void set_random_serial(X509* cert) {
    const std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), BN_free);
    check(serial && BN_rand(serial.get(), 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 &&
              BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) != nullptr,
          "a serial number");
}

// An unsigned v3 certificate of `key` named CN=`name`, issued by `issuer`
// (itself when null), valid from an hour ago (clocks differ a little) for a day.
x509_ptr new_certificate(EVP_PKEY* key, const char* name, X509* issuer) {
    x509_ptr cert(X509_new(), X509_free);
    check(cert != nullptr, "X509_new");
    X509* c = cert.get();
    X509_NAME* subject = X509_get_subject_name(c);
    check(X509_set_version(c, X509_VERSION_3) == 1 &&
              X509_gmtime_adj(X509_getm_notBefore(c), -3600) != nullptr &&
              X509_gmtime_adj(X509_getm_notAfter(c), 24 * 3600) != nullptr &&
              X509_set_pubkey(c, key) == 1 &&
              X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                         reinterpret_cast<const unsigned char*>(name), -1, -1,
                                         0) == 1 &&
              X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : subject) == 1,
          fmt::format("the certificate of {}", name));
    set_random_serial(c);
    return cert;
}

// Adds an extension written as in openssl.cnf, e.g. "critical,CA:TRUE".
void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    const bool added = extension && X509_add_ext(cert, extension, -1) == 1;
    X509_EXTENSION_free(extension);
    check(added, fmt::format("the extension {} = {}", OBJ_nid2sn(nid), value));
}

void sign(X509* cert, EVP_PKEY* issuer_key) {
    check(X509_sign(cert, issuer_key, EVP_sha256()) > 0, "signing a certificate");
}

// Writes one PEM file only we may read (O_EXCL: the directory is new, so
// nothing may be there yet). `write` is PEM_write_bio_X509 or the like.
template <class Write>
void write_pem(const std::string& path, Write write) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        throw std::runtime_error(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
    const std::unique_ptr<BIO, decltype(&BIO_free_all)> bio(BIO_new_fd(fd, BIO_CLOSE),
                                                            BIO_free_all);
    if (!bio) ::close(fd);
    check(bio && write(bio.get()) == 1, fmt::format("writing {}", path));
}

void write_certificates(const tls_files& files) {
    const auto ca_key = new_p256_key();
    const auto ca = new_certificate(ca_key.get(), "rotbench throwaway CA", nullptr);
    add_extension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
    add_extension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
    sign(ca.get(), ca_key.get());

    const auto key = new_p256_key();
    const auto cert = new_certificate(key.get(), "localhost", ca.get());
    add_extension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth");
    // Clients dial 127.0.0.1 and check that the certificate names it.
    add_extension(cert.get(), ca.get(), NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    add_extension(cert.get(), ca.get(), NID_subject_key_identifier, "hash");
    add_extension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
    sign(cert.get(), ca_key.get());

    write_pem(files.ca, [&](BIO* b) { return PEM_write_bio_X509(b, ca.get()); });
    write_pem(files.certificate, [&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); });
    write_pem(files.private_key, [&](BIO* b) {
        return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
}

// ---- the directory, also removed when a signal ends the run -------------------------

std::string make_private_directory() {
    const char* tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/rotbench-XXXXXX";
    if (!::mkdtemp(path.data()))  // mode 0700
        throw std::runtime_error(
            fmt::format("cannot make a directory {}: {}", path, std::strerror(errno)));
    return path;
}

// What the signal handler removes, copied into fixed buffers beforehand: a
// handler may only call async-signal-safe functions such as unlink and rmdir.
struct removal_list {
    std::array<std::array<char, PATH_MAX>, 3> files{};
    std::array<char, PATH_MAX> directory{};
};
removal_list to_remove;

constexpr std::array fatal_signals = {SIGINT, SIGTERM, SIGHUP};
std::array<struct sigaction, fatal_signals.size()> previous_actions{};
bool armed = false;  // previous_actions hold what to put back

void remove_listed() noexcept {
    for (const auto& file : to_remove.files)
        if (file[0]) ::unlink(file.data());
    if (to_remove.directory[0]) ::rmdir(to_remove.directory.data());
}

void remove_and_die(int sig) {
    remove_listed();
    ::signal(sig, SIG_DFL);
    ::raise(sig);  // ends the process as the signal would have
}

void copy_path(std::array<char, PATH_MAX>& to, const std::string& path) {
    if (path.size() >= to.size()) throw std::runtime_error("temporary directory path too long");
    std::memcpy(to.data(), path.c_str(), path.size() + 1);
}

void arm_removal(const std::string& directory, const tls_files& files) {
    copy_path(to_remove.directory, directory);
    copy_path(to_remove.files[0], files.ca);
    copy_path(to_remove.files[1], files.certificate);
    copy_path(to_remove.files[2], files.private_key);
    struct sigaction action {};
    action.sa_handler = remove_and_die;
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < fatal_signals.size(); ++i) {
        ::sigaction(fatal_signals[i], nullptr, &previous_actions[i]);
        // A signal the shell told us to ignore (nohup, `&`) stays ignored.
        if (previous_actions[i].sa_handler != SIG_IGN)
            ::sigaction(fatal_signals[i], &action, nullptr);
    }
    armed = true;
}

// Removes the directory and what is in it now, and puts the previous signal
// actions back.
void remove_now(const std::string& directory) noexcept {
    remove_listed();
    if (armed)
        for (std::size_t i = 0; i < fatal_signals.size(); ++i)
            ::sigaction(fatal_signals[i], &previous_actions[i], nullptr);
    armed = false;
    to_remove = {};
    // Anything else that landed there (nothing should) goes too.
    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);
}

}  // namespace

std::string random_cookie() {
    unsigned char bytes[32];
    check(RAND_bytes(bytes, sizeof bytes) == 1, "random bytes for the cookie");
    std::string hex;
    for (const unsigned char b : bytes) hex += fmt::format("{:02x}", b);
    return hex;
}

tls_files tls_files_in(const std::string& dir) {
    return {.ca = dir + "/ca.pem",
            .certificate = dir + "/server.pem",
            .private_key = dir + "/server.key"};
}

tls_directory::tls_directory() : path_(make_private_directory()) {
    const auto files = tls_files_in(path_);
    try {
        arm_removal(path_, files);
        write_certificates(files);
    } catch (...) {
        remove_now(path_);
        throw;
    }
}

tls_directory::~tls_directory() {
    remove_now(path_);
}

}  // namespace rotbench
