#include <rot/error.hpp>

namespace rot {

namespace {
class category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "rot"; }
    std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
            case errc::timeout: return "timeout";
            case errc::not_connected: return "not connected";
            case errc::connection_lost: return "connection lost";
            case errc::undef: return "undefined function";
            case errc::badarg: return "bad argument";
            case errc::exception: return "exception in remote function";
            case errc::bad_request: return "bad request";
            case errc::protocol_error: return "protocol error";
            case errc::version_mismatch: return "protocol version mismatch";
            case errc::name_conflict: return "name conflict";
            case errc::frame_too_large: return "frame too large";
            case errc::stopped: return "stopped";
            case errc::already_exists: return "already exists";
            case errc::invalid_argument: return "invalid argument";
            case errc::parse_error: return "parse error";
            case errc::connect_failed: return "connect failed";
            case errc::overloaded: return "overloaded";
            case errc::disconnected: return "disconnected";
            case errc::auth_failed: return "authentication failed";
            case errc::tls_failed: return "TLS failed";
            case errc::not_sent: return "not sent";
            case errc::bind_failed: return "bind failed";
        }
        return "unknown rot error " + std::to_string(code);
    }
};
}  // namespace

const std::error_category& category() noexcept {
    static const category_impl c;
    return c;
}

error::error(failure f)
    : std::system_error(f.code, f.message),
      message_(std::move(f.message)),
      what_(message_.empty() ? code().message() : message_) {}

error::error(errc code, const std::string& message) : error(failure{make_error_code(code), message}) {}

}  // namespace rot
