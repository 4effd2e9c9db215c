#include "codec.hpp"

#include <bit>
#include <cmath>

#include "utf8.hpp"

namespace rot {
namespace detail {

void writer::varint(std::uint64_t v) {
    while (v >= 0x80) {
        out_.push_back(static_cast<std::uint8_t>(v | 0x80));
        v >>= 7;
    }
    out_.push_back(static_cast<std::uint8_t>(v));
}

void writer::short_str(std::string_view s) {
    if (s.size() > 255) throw error(errc::invalid_argument, fmt::format("atom too long ({} bytes, at most 255)", s.size()));
    u8(static_cast<std::uint8_t>(s.size()));
    bytes(s.data(), s.size());
}

void writer::write_list(std::span<const term> items) {
    u8(static_cast<std::uint8_t>(tag::list));
    varint(items.size());
    for (const auto& x : items) write_term(x);
}

void writer::write_term(const term& t) {
    switch (t.type()) {
        case kind::integer: {
            u8(static_cast<std::uint8_t>(tag::integer));
            const auto v = t.as_int();
            // Zigzag keeps small negative numbers short.
            varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
            break;
        }
        case kind::floating:
            u8(static_cast<std::uint8_t>(tag::floating));
            u64(std::bit_cast<std::uint64_t>(t.as_float()));
            break;
        case kind::atom:
            u8(static_cast<std::uint8_t>(tag::atom));
            short_str(t.atom_name());
            break;
        case kind::tuple:
            u8(static_cast<std::uint8_t>(tag::tuple));
            varint(t.as_tuple().size());
            for (const auto& x : t.as_tuple()) write_term(x);
            break;
        case kind::map:
            u8(static_cast<std::uint8_t>(tag::map));
            varint(t.as_map().size());
            for (const auto& [k, v] : t.as_map()) {
                write_term(k);
                write_term(v);
            }
            break;
        case kind::list: write_list(t.as_list()); break;
        case kind::string:
            u8(static_cast<std::uint8_t>(tag::string));
            str(t.as_string());
            break;
        case kind::binary:
            u8(static_cast<std::uint8_t>(tag::binary));
            varint(t.as_binary().size());
            if (gather_ && t.as_binary().size() >= gather_binary_bytes) gather_->add(out_.size(), t.as_binary());
            else bytes(t.as_binary().data(), t.as_binary().size());
            break;
    }
}

void reader::fail(std::string_view what) const {
    throw error(errc::protocol_error, fmt::format("malformed data at byte {}: {}", offset(), what));
}

void reader::expect_end(std::string_view what) const {
    if (p_ != end_) fail(fmt::format("{} trailing bytes after {}", remaining(), what));
}

std::uint64_t reader::varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const std::uint8_t b = u8();
        if (shift == 63 && b > 1) fail("varint overflows 64 bits");
        v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
        if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
}

std::string_view reader::bytes(std::size_t n) {
    if (n > remaining()) fail(fmt::format("length {} but only {} bytes left", n, remaining()));
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
}

std::size_t reader::length() {
    const std::uint64_t n = varint();
    if (n > remaining()) fail(fmt::format("length {} but only {} bytes left", n, remaining()));
    return static_cast<std::size_t>(n);
}

std::size_t reader::count(std::size_t min_bytes) {
    const std::uint64_t n = varint();
    if (n > remaining() / min_bytes) fail(fmt::format("{} items cannot fit in {} bytes", n, remaining()));
    return static_cast<std::size_t>(n);
}

std::uint64_t reader::list_header() {
    if (u8() != static_cast<std::uint8_t>(tag::list)) fail("expected a list");
    return count(2);
}

term reader::read_term(int depth) {
    // The smallest encoded term is two bytes (a tag and a one-byte varint or
    // length), which bounds every count below by the bytes that remain.
    constexpr std::size_t min_term = 2;
    const auto t = static_cast<tag>(u8());
    // A container holds terms one level deeper, so refusing one at the limit
    // caps nesting at max_term_depth containers, whether or not the innermost
    // one is empty.
    if ((t == tag::tuple || t == tag::map || t == tag::list) && depth >= max_term_depth) {
        --p_;
        fail(fmt::format("terms nested deeper than {}", max_term_depth));
    }
    switch (t) {
        case tag::integer: {
            const std::uint64_t z = varint();
            return term(static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1)));
        }
        case tag::floating: {
            const double d = std::bit_cast<double>(u64());
            if (!std::isfinite(d)) fail("float is not finite");
            return term(d);
        }
        case tag::atom: {
            const auto name = short_str();
            if (!valid_utf8(name)) fail("atom is not valid UTF-8");
            return term(atom(name));
        }
        case tag::tuple: {
            const std::size_t n = count(min_term);
            term::tuple_type items;
            items.reserve(n);
            for (std::size_t i = 0; i < n; ++i) items.push_back(read_term(depth + 1));
            return term::make_tuple(std::move(items));
        }
        case tag::map: {
            const std::size_t n = count(2 * min_term);
            term::map_type entries;
            entries.reserve(n);
            for (std::size_t i = 0; i < n; ++i) {
                term k = read_term(depth + 1);
                entries.emplace_back(std::move(k), read_term(depth + 1));
            }
            try {
                return term::make_map(std::move(entries));
            } catch (const std::invalid_argument& e) {
                fail(e.what());
            }
        }
        case tag::list: {
            const std::size_t n = count(min_term);
            term::list_type items;
            items.reserve(n);
            for (std::size_t i = 0; i < n; ++i) items.push_back(read_term(depth + 1));
            return term::make_list(std::move(items));
        }
        case tag::string: {
            const auto s = str();
            if (!valid_utf8(s)) fail("string is not valid UTF-8");
            return term::make_string_unchecked(std::string(s));
        }
        case tag::binary: {
            const auto b = str();
            const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(b.data()), b.size());
            if (owner_ && bytes.size() >= share_binary_bytes) {
                if (shared_) *shared_ = true;
                return term(binary::share(*owner_, bytes));
            }
            return term(binary(bytes));
        }
    }
    --p_;
    fail(fmt::format("unknown term tag {}", *p_));
}

term decode_term(std::span<const std::uint8_t> in, const std::shared_ptr<const void>& owner, bool* shared) {
    reader r(in, &owner, shared);
    term t = r.read_term();
    r.expect_end("the term");
    return t;
}

}  // namespace detail

binary to_binary(const term& t) {
    detail::byte_vector out;
    detail::writer(out).write_term(t);
    return binary(std::move(out));
}

term from_binary(std::span<const std::uint8_t> bytes) {
    detail::reader r(bytes);
    term t = r.read_term();
    r.expect_end("the term");
    return t;
}

}  // namespace rot
