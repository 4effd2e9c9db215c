#pragma once
// The binary form of terms and the primitive encodings messages are made of
// (docs/PROTOCOL.md). The reader treats its input as hostile: every length is
// checked against the bytes that remain before anything is allocated, and
// nesting is limited.

#include <rot/error.hpp>
#include <rot/term.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace rot::detail {

/// A buffer of bytes being built or read (frames, the read and write buffers).
using byte_vector = std::vector<std::uint8_t>;

/// Binaries at least this long are decoded as views of the buffer they
/// arrived in (shared with it); shorter ones are copied, so that a few
/// small binaries kept by a handler do not hold whole read buffers.
inline constexpr std::size_t share_binary_bytes = 1024;

/// Binaries at least this long are not copied into a frame being written to
/// a socket: the frame refers to them and they are written from where they
/// are, with scatter/gather (see splices).
inline constexpr std::size_t gather_binary_bytes = 16 * 1024;

/// Binaries a writer left out of its buffer. Each goes before the buffer's
/// byte at `at`; frames count their bytes. Sorted by `at`.
struct splices {
    struct item {
        std::size_t at;
        binary bytes;
    };
    std::vector<item> items;
    std::size_t bytes = 0;  ///< their total size

    void add(std::size_t at, binary b) {
        bytes += b.size();
        items.push_back({at, std::move(b)});
    }
    /// Removes the items from `n` on.
    void truncate(std::size_t n) {
        while (items.size() > n) {
            bytes -= items.back().bytes.size();
            items.pop_back();
        }
    }
};

/// Deepest nesting of lists, tuples and maps accepted from the wire or text.
inline constexpr int max_term_depth = 100;

enum class tag : std::uint8_t {
    integer = 1,
    floating = 2,
    atom = 3,
    tuple = 4,
    map = 5,
    list = 6,
    string = 7,
    binary = 8,
};

class writer {
public:
    /// With `gather`, large binaries are recorded there instead of copied into `out`.
    explicit writer(byte_vector& out, splices* gather = nullptr) : out_(out), gather_(gather) {}

    void u8(std::uint8_t v) { out_.push_back(v); }
    void u16(std::uint16_t v) { fixed(v); }
    void u32(std::uint32_t v) { fixed(v); }
    void u64(std::uint64_t v) { fixed(v); }
    void varint(std::uint64_t v);
    void bytes(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::uint8_t*>(p);
        out_.insert(out_.end(), b, b + n);
    }
    /// varint length, then the bytes.
    void str(std::string_view s) {
        varint(s.size());
        bytes(s.data(), s.size());
    }
    /// u8 length, then the bytes (atoms: at most 255).
    void short_str(std::string_view s);
    void write_term(const term& t);
    /// A list of terms, encoded as the list term would be.
    void write_list(std::span<const term> items);

private:
    template <class T>
    void fixed(T v) {
        // Little-endian on the wire; this build only targets little-endian hosts.
        static_assert(std::endian::native == std::endian::little);
        bytes(&v, sizeof v);
    }
    byte_vector& out_;
    splices* gather_;
};

class reader {
public:
    /// With `owner` (which holds `in`'s bytes), large binaries are views of
    /// `in` sharing it; then `*shared` (if given) is set.
    explicit reader(std::span<const std::uint8_t> in, const std::shared_ptr<const void>* owner = nullptr,
                    bool* shared = nullptr)
        : p_(in.data()), begin_(in.data()), end_(in.data() + in.size()), owner_(owner), shared_(shared) {}

    std::uint8_t u8() { return fixed<std::uint8_t>(); }
    std::uint16_t u16() { return fixed<std::uint16_t>(); }
    std::uint32_t u32() { return fixed<std::uint32_t>(); }
    std::uint64_t u64() { return fixed<std::uint64_t>(); }
    std::uint64_t varint();
    std::string_view bytes(std::size_t n);
    std::string_view str() { return bytes(length()); }
    std::string_view short_str() { return bytes(u8()); }
    term read_term() { return read_term(0); }
    /// The element count of a list, without reading the elements.
    std::uint64_t list_header();

    [[nodiscard]] std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
    [[nodiscard]] std::size_t offset() const noexcept { return static_cast<std::size_t>(p_ - begin_); }
    [[nodiscard]] std::span<const std::uint8_t> rest() const noexcept { return {p_, end_}; }
    /// Throws protocol_error unless every byte was read.
    void expect_end(std::string_view what) const;
    [[noreturn]] void fail(std::string_view what) const;

private:
    template <class T>
    T fixed() {
        if (remaining() < sizeof(T)) fail("truncated");
        T v;
        std::memcpy(&v, p_, sizeof v);
        p_ += sizeof v;
        return v;
    }
    /// A varint length that fits in what remains.
    std::size_t length();
    /// A count of items each taking at least `min_bytes`, checked against what remains.
    std::size_t count(std::size_t min_bytes);
    term read_term(int depth);

    const std::uint8_t* p_;
    const std::uint8_t* begin_;
    const std::uint8_t* end_;
    const std::shared_ptr<const void>* owner_;
    bool* shared_;
};

/// One whole term from `in`; large binaries share `owner` (see reader), and
/// then `*shared` is set.
term decode_term(std::span<const std::uint8_t> in, const std::shared_ptr<const void>& owner, bool* shared = nullptr);

}  // namespace rot::detail
