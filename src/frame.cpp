#include "frame.hpp"

#include "utf8.hpp"

#include <cstring>

namespace rot::detail {

namespace {
constexpr std::string_view magic = "ROT";

// Messages come from anywhere (a handler's what(), a host name): they are
// made valid UTF-8 and cut to fit, so that the receiver never rejects them.
void write_failure(writer& w, errc code, std::string_view message, std::size_t max_bytes) {
    w.u16(static_cast<std::uint16_t>(code));
    w.str(sanitize_utf8(message, max_bytes));
}

// Error frames must fit under the smallest frame limit a peer may declare.
constexpr std::size_t max_error_message = handshake_max_frame - 64;
constexpr std::size_t max_handshake_message = 1024;

// Names on the wire are atoms: at most 255 bytes, valid UTF-8.
std::string read_name(reader& r, std::string_view what) {
    const auto s = r.short_str();
    if (!valid_utf8(s)) r.fail(fmt::format("{} is not valid UTF-8", what));
    return std::string(s);
}
}  // namespace

frame_status parse_frame(std::span<const std::uint8_t> buf, std::size_t max,
                         std::span<const std::uint8_t>& payload, std::size_t& size) noexcept {
    if (buf.size() < frame_header_bytes) return frame_status::need_more;
    const std::size_t len = frame_length(buf.data());
    if (len > max) return frame_status::too_large;
    if (buf.size() - frame_header_bytes < len) return frame_status::need_more;
    payload = buf.subspan(frame_header_bytes, len);
    size = frame_header_bytes + len;
    return frame_status::complete;
}

frame_builder::frame_builder(byte_vector& out, msg kind, splices* gather)
    : buf_(out), start_(out.size()), gather_(gather) {
    if (gather_) {
        gather_items_ = gather_->items.size();
        gather_bytes_ = gather_->bytes;
    }
    buf_.resize(start_ + frame_header_bytes);
    w_.u8(static_cast<std::uint8_t>(kind));
}

frame_builder::~frame_builder() {
    if (!finished_) {
        buf_.resize(start_);
        if (gather_) gather_->truncate(gather_items_);
    }
}

void frame_builder::finish(std::size_t max) {
    const std::size_t spliced = gather_ ? gather_->bytes - gather_bytes_ : 0;
    const std::size_t len = buf_.size() - start_ - frame_header_bytes + spliced;
    if (len > max) {
        buf_.resize(start_);
        if (gather_) gather_->truncate(gather_items_);
        finished_ = true;
        throw error(errc::frame_too_large,
                    fmt::format("message of {} bytes exceeds the frame limit of {} bytes", len, max));
    }
    std::uint8_t* h = buf_.data() + start_;
    h[0] = static_cast<std::uint8_t>(len >> 24);
    h[1] = static_cast<std::uint8_t>(len >> 16);
    h[2] = static_cast<std::uint8_t>(len >> 8);
    h[3] = static_cast<std::uint8_t>(len);
    finished_ = true;
}

byte_vector encode_hello(const hello& h) {
    byte_vector out;
    frame_builder f(out, msg::hello);
    auto& w = f.out();
    w.bytes(magic.data(), magic.size());
    w.u16(h.min_version);
    w.u16(h.max_version);
    w.u32(h.flags);
    w.u32(h.max_frame);
    w.u64(h.incarnation);
    w.short_str(h.node);
    w.short_str(h.name);
    w.bytes(h.nonce.data(), h.nonce.size());
    w.u32(h.dead_peer_ms);
    f.finish(handshake_max_frame);
    return out;
}

byte_vector encode_challenge(const challenge& c) {
    byte_vector out;
    frame_builder f(out, msg::challenge);
    auto& w = f.out();
    w.u16(c.version);
    w.u32(c.flags);
    w.u32(c.max_frame);
    w.u64(c.incarnation);
    w.short_str(c.node);
    w.short_str(c.name);
    w.bytes(c.nonce.data(), c.nonce.size());
    w.u32(c.dead_peer_ms);
    f.finish(handshake_max_frame);
    return out;
}

namespace {
byte_vector encode_mac(msg kind, const mac& m) {
    byte_vector out;
    frame_builder f(out, kind);
    f.out().bytes(m.data(), m.size());
    f.finish(handshake_max_frame);
    return out;
}

nonce read_nonce(reader& r) {
    nonce n;
    const auto bytes = r.bytes(n.size());
    std::memcpy(n.data(), bytes.data(), n.size());
    return n;
}
}  // namespace

byte_vector encode_proof(const mac& m) { return encode_mac(msg::proof, m); }
byte_vector encode_welcome(const mac& m) { return encode_mac(msg::welcome, m); }

namespace {
// refuse and goodbye carry the same (code, message).
byte_vector encode_failure(msg kind, errc code, std::string_view message) {
    byte_vector out;
    frame_builder f(out, kind);
    write_failure(f.out(), code, message, max_handshake_message);
    f.finish(handshake_max_frame);
    return out;
}
}  // namespace

const byte_vector& encode_ping() {
    static const byte_vector ping = [] {
        byte_vector out;
        frame_builder f(out, msg::ping);
        f.finish(handshake_max_frame);
        return out;
    }();
    return ping;
}

byte_vector encode_refuse(errc code, std::string_view message) { return encode_failure(msg::refuse, code, message); }
byte_vector encode_goodbye(errc code, std::string_view message) { return encode_failure(msg::goodbye, code, message); }

void append_request(byte_vector& out, std::uint64_t id, const mfa& request, std::size_t max, splices* gather) {
    frame_builder f(out, id ? msg::call : msg::cast, gather);
    auto& w = f.out();
    if (id) w.varint(id);
    w.short_str(request.module);
    w.short_str(request.function);
    w.write_list(request.args);
    f.finish(max);
}

void append_reply(byte_vector& out, std::uint64_t id, const term& value, std::size_t max, splices* gather) {
    frame_builder f(out, msg::reply, gather);
    f.out().varint(id);
    f.out().write_term(value);
    f.finish(max);
}

void append_error(byte_vector& out, std::uint64_t id, errc code, std::string_view message) {
    frame_builder f(out, msg::error);
    f.out().varint(id);
    write_failure(f.out(), code, message, max_error_message);
    f.finish(handshake_max_frame);
}

byte_vector encode_request(std::uint64_t id, const mfa& request, std::size_t max) {
    byte_vector out;
    append_request(out, id, request, max);
    return out;
}

byte_vector encode_reply(std::uint64_t id, const term& value, std::size_t max) {
    byte_vector out;
    append_reply(out, id, value, max);
    return out;
}

byte_vector encode_error(std::uint64_t id, errc code, std::string_view message) {
    byte_vector out;
    append_error(out, id, code, message);
    return out;
}

msg payload_kind(std::span<const std::uint8_t> payload) {
    if (payload.empty()) throw error(errc::protocol_error, "empty frame");
    return static_cast<msg>(payload[0]);
}

hello decode_hello(std::span<const std::uint8_t> payload) {
    payload_kind(payload);  // refuses an empty payload
    reader r(payload.subspan(1));
    if (r.bytes(magic.size()) != magic) r.fail("not a rot hello (bad magic)");
    hello h;
    h.min_version = r.u16();
    h.max_version = r.u16();
    h.flags = r.u32();
    h.max_frame = r.u32();
    h.incarnation = r.u64();
    h.node = read_name(r, "node name");
    h.name = read_name(r, "connection name");
    // A version-1 hello ends here (it is read so that it can be refused with
    // the versions); one that offers version 2 must carry the nonce.
    if (h.max_version >= 2) {
        h.nonce = read_nonce(r);
        h.dead_peer_ms = r.u32();
    }
    // Later versions may append fields; version 2 ignores what follows.
    return h;
}

challenge decode_challenge(std::span<const std::uint8_t> payload) {
    payload_kind(payload);  // refuses an empty payload
    reader r(payload.subspan(1));
    challenge c;
    c.version = r.u16();
    c.flags = r.u32();
    c.max_frame = r.u32();
    c.incarnation = r.u64();
    c.node = read_name(r, "node name");
    c.name = read_name(r, "server name");
    c.nonce = read_nonce(r);
    c.dead_peer_ms = r.u32();
    return c;
}

mac decode_mac(std::span<const std::uint8_t> payload) {
    payload_kind(payload);  // refuses an empty payload
    reader r(payload.subspan(1));
    mac m;
    const auto bytes = r.bytes(m.size());
    std::memcpy(m.data(), bytes.data(), m.size());
    r.expect_end("the proof");
    return m;
}

errc wire_errc(std::uint16_t code) noexcept {
    return code >= 1 && code <= static_cast<std::uint16_t>(last_errc) ? static_cast<errc>(code)
                                                                              : errc::protocol_error;
}

errc to_errc(std::error_code ec) noexcept {
    return ec.category() == rot::category() ? static_cast<errc>(ec.value()) : errc::protocol_error;
}

failure decode_failure(std::span<const std::uint8_t> payload) {
    payload_kind(payload);  // refuses an empty payload
    reader r(payload.subspan(1));
    const errc code = wire_errc(r.u16());
    failure f{make_error_code(code), std::string(r.str())};
    if (!valid_utf8(f.message)) r.fail("message is not valid UTF-8");
    r.expect_end("the message");
    return f;
}

request_view decode_request(std::span<const std::uint8_t> payload) {
    const msg kind = payload_kind(payload);
    reader r(payload.subspan(1));
    request_view v;
    if (kind == msg::call) {
        v.id = r.varint();
        if (v.id == 0) r.fail("call id 0");
    }
    v.module = r.short_str();
    v.function = r.short_str();
    if (!valid_utf8(v.module) || !valid_utf8(v.function)) r.fail("module or function name is not valid UTF-8");
    v.args = r.rest();
    v.arity = r.list_header();
    return v;
}

response_view decode_response(std::span<const std::uint8_t> payload) {
    const msg kind = payload_kind(payload);
    reader r(payload.subspan(1));
    response_view v;
    v.id = r.varint();
    if (kind == msg::reply) {
        v.value = r.rest();
    } else {
        v.ok = false;
        v.code = make_error_code(wire_errc(r.u16()));
        v.message = r.str();
        if (!valid_utf8(v.message)) r.fail("error message is not valid UTF-8");
        r.expect_end("the error");
    }
    return v;
}

}  // namespace rot::detail
