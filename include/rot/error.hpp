#pragma once
// Errors: stable codes (they cross the wire), a std::error_category, the
// exception thrown by the throwing API and the result type of the try_ API.

#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace rot {

/// Error codes. The numbers never change: they are sent on the wire.
enum class errc : int {
    timeout = 1,           ///< no reply before the deadline
    not_connected = 2,     ///< no peer of that name
    connection_lost = 3,   ///< the connection closed after the request was sent: it may have run
    undef = 4,             ///< remote: no such module:function/arity
    badarg = 5,            ///< remote: an argument had the wrong type or value
    exception = 6,         ///< remote: the handler threw
    bad_request = 7,       ///< malformed request ({F, A} without a jail, args not a list)
    protocol_error = 8,    ///< the peer broke the wire protocol
    version_mismatch = 9,  ///< no protocol version in common
    name_conflict = 10,    ///< another node already goes by that name
    frame_too_large = 11,  ///< a frame over the size limit
    stopped = 12,          ///< the node or server was stopped
    already_exists = 13,   ///< a server or module of that name exists
    invalid_argument = 14, ///< bad option or argument to a local API call
    parse_error = 15,      ///< text that is not a valid term
    connect_failed = 16,   ///< could not resolve or dial the host
    overloaded = 17,       ///< the peer refuses work for now; retry later
    disconnected = 18,     ///< the peer said goodbye
    auth_failed = 19,      ///< the handshake did not prove the cookie (or the certificate's name)
    tls_failed = 20,       ///< no TLS session: plaintext against TLS, an unverified certificate...
    not_sent = 21,         ///< the request never left this node: it did not run, safe to retry
    bind_failed = 22,      ///< a server could not listen: address in use, not ours, no permission
};

/// The highest errc: codes above it read from the wire are protocol errors.
inline constexpr errc last_errc = errc::bind_failed;

/// The category of rot::errc; messages are short and fixed.
[[nodiscard]] const std::error_category& category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category()};
}

/// A failure: its code and a message for people (for remote errors, the
/// remote side's message, e.g. "undefined function math:add/3").
struct failure {
    std::error_code code;
    std::string message;
};

/// Thrown by the throwing API. what() is the full message; code() tells the kind.
class error : public std::system_error {
public:
    explicit error(failure f);
    error(errc code, const std::string& message);

    /// The message (for remote failures, the remote side's).
    [[nodiscard]] const std::string& message() const noexcept { return message_; }
    /// The message, once (std::system_error's would append the kind).
    [[nodiscard]] const char* what() const noexcept override { return what_.c_str(); }
    [[nodiscard]] failure to_failure() const { return {code(), message_}; }

private:
    std::string message_;
    std::string what_;
};

/// The value of a `try_` call: a T or the failure. value() throws rot::error.
template <class T>
class [[nodiscard]] result {
public:
    result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    result(failure f) : v_(std::in_place_index<1>, std::move(f)) {}

    [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    [[nodiscard]] T& value() & { check(); return std::get<0>(v_); }
    [[nodiscard]] const T& value() const& { check(); return std::get<0>(v_); }
    [[nodiscard]] T&& value() && { check(); return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    /// The failure; only valid when !has_value().
    [[nodiscard]] const failure& error() const { return std::get<1>(v_); }
    [[nodiscard]] std::error_code code() const noexcept {
        return has_value() ? std::error_code{} : std::get<1>(v_).code;
    }

private:
    void check() const {
        if (!has_value()) throw rot::error(std::get<1>(v_));
    }
    std::variant<T, failure> v_;
};

/// result<void>: success or a failure.
template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(failure f) : failure_(std::move(f)), failed_(true) {}
    [[nodiscard]] bool has_value() const noexcept { return !failed_; }
    explicit operator bool() const noexcept { return has_value(); }
    void value() const {
        if (failed_) throw rot::error(failure_);
    }
    [[nodiscard]] const failure& error() const { return failure_; }
    [[nodiscard]] std::error_code code() const noexcept { return failure_.code; }

private:
    failure failure_;
    bool failed_ = false;
};

}  // namespace rot

template <>
struct std::is_error_code_enum<rot::errc> : std::true_type {};
