#pragma once
// rot::term: a self-describing value like an Erlang term.

#include <compare>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

namespace rot {

class term;

/// An atom: a name such as `ok` or `math`. `true`/`false` are booleans and
/// `undefined` means nothing. At most 255 bytes.
struct atom {
    std::string name;
    atom() = default;
    explicit atom(std::string n) : name(std::move(n)) {}
    explicit atom(const char* n) : name(n) {}
    explicit atom(std::string_view n) : name(n) {}
    friend auto operator<=>(const atom&, const atom&) = default;
    friend bool operator==(const atom&, const atom&) = default;
};

/// Raw bytes (Erlang's binary): immutable and shared, so copies are cheap (a
/// reference count). A binary received from a peer refers to the bytes it
/// arrived in; building one from a std::vector takes the vector's bytes over.
class binary {
public:
    using value_type = std::uint8_t;
    using size_type = std::size_t;
    using const_iterator = const std::uint8_t*;
    using iterator = const_iterator;
    using const_reference = const std::uint8_t&;
    using reference = const_reference;

    binary() noexcept = default;
    /// Takes the vector's bytes over: no copy.
    binary(std::vector<std::uint8_t> bytes);
    /// These copy the bytes.
    binary(std::initializer_list<std::uint8_t> bytes) : binary(std::span<const std::uint8_t>(bytes.begin(), bytes.size())) {}
    explicit binary(std::span<const std::uint8_t> bytes);
    /// `n` bytes, each `fill`.
    binary(std::size_t n, std::uint8_t fill);
    template <std::input_iterator It>
    binary(It first, It last) : binary(std::vector<std::uint8_t>(first, last)) {}
    /// Bytes that belong to `owner`, which keeps them alive and unchanged
    /// while any copy of this binary lives.
    [[nodiscard]] static binary share(std::shared_ptr<const void> owner, std::span<const std::uint8_t> bytes) noexcept;

    [[nodiscard]] const std::uint8_t* data() const noexcept { return data_.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] const_iterator begin() const noexcept { return data(); }
    [[nodiscard]] const_iterator end() const noexcept { return data() + size_; }
    [[nodiscard]] const std::uint8_t& operator[](std::size_t i) const noexcept { return data()[i]; }
    operator std::span<const std::uint8_t>() const noexcept { return {data(), size_}; }
    /// The bytes from `pos` on (at most `n`), sharing this binary's; throws
    /// std::out_of_range when pos > size().
    [[nodiscard]] binary slice(std::size_t pos, std::size_t n = SIZE_MAX) const;
    /// A binary with bytes of its own (which keeps no read buffer alive).
    [[nodiscard]] binary copy() const { return binary(std::span<const std::uint8_t>(*this)); }
    /// A copy of the bytes that the caller may change.
    [[nodiscard]] std::vector<std::uint8_t> to_vector() const { return {begin(), end()}; }

    friend bool operator==(const binary& a, const binary& b) noexcept;
    friend std::strong_ordering operator<=>(const binary& a, const binary& b) noexcept;

private:
    std::shared_ptr<const std::uint8_t> data_;  ///< points into what it owns
    std::size_t size_ = 0;
};

/// The kinds of term, in the order terms compare: number < atom < tuple <
/// map < list < string < binary (integers and floats compare by value).
enum class kind : std::uint8_t { integer, floating, atom, tuple, map, list, string, binary };

/// Conversion between C++ types and terms; specialised in rot/convert.hpp.
template <class T, class Enable = void>
struct convert;

namespace detail {
[[noreturn]] void throw_int_range();
template <class T>
concept convertible_by_trait = requires(const T& v) {
    { convert<T>::to_term(v) } -> std::same_as<term>;
};
}  // namespace detail

/// A value: atom, integer (int64), float (finite double), string (UTF-8),
/// binary, list, tuple or map. Cheap to move; copies are deep, except that
/// binaries are shared (they never change).
class term {
public:
    using list_type = std::vector<term>;
    using tuple_type = std::vector<term>;
    /// Entries sorted by key, keys unique (term::map() sorts and checks).
    using map_type = std::vector<std::pair<term, term>>;

    /// The atom `undefined`.
    term() : v_(std::in_place_type<atom>, "undefined") {}
    term(atom a) : v_(std::move(a)) {}
    term(bool b) : v_(std::in_place_type<atom>, b ? "true" : "false") {}
    /// Integers; an unsigned value above INT64_MAX throws std::out_of_range.
    template <std::integral I>
        requires(!std::same_as<I, bool> && !std::same_as<I, char>)
    term(I i) : v_(checked_int(i)) {}
    /// Finite floats only: NaN and infinities throw std::domain_error (as in Erlang).
    term(double d);
    term(float f) : term(static_cast<double>(f)) {}
    term(const char* s) : term(std::string(s)) {}
    term(std::string_view s) : term(std::string(s)) {}
    term(std::string s);  ///< A string; must be valid UTF-8 (throws std::invalid_argument).
    term(binary b) : v_(std::move(b)) {}
    /// A binary that takes the vector's bytes over (no copy when moved in).
    term(std::vector<std::uint8_t> bytes) : term(binary(std::move(bytes))) {}
    /// Any other type with a rot::convert specialisation (containers,
    /// std::optional, std::tuple, cereal-serialisable user types...).
    template <class T>
        requires(detail::convertible_by_trait<std::remove_cvref_t<T>> &&
                 !std::is_arithmetic_v<std::remove_cvref_t<T>>)
    term(const T& v) : term(convert<std::remove_cvref_t<T>>::to_term(v)) {}

    /// Construct composite terms. map() sorts by key and throws
    /// std::invalid_argument on a duplicate key.
    [[nodiscard]] static term make_list(list_type items);
    [[nodiscard]] static term make_tuple(tuple_type items);
    [[nodiscard]] static term make_map(map_type entries);
    /// A string from bytes that are already known to be valid UTF-8.
    [[nodiscard]] static term make_string_unchecked(std::string s);
    /// A string for a message: bytes that are not valid UTF-8 become '?'.
    [[nodiscard]] static term make_string_lossy(std::string_view s);

    [[nodiscard]] kind type() const noexcept { return static_cast<kind>(v_.index()); }
    [[nodiscard]] bool is_atom() const noexcept { return type() == kind::atom; }
    [[nodiscard]] bool is_atom(std::string_view name) const noexcept;
    [[nodiscard]] bool is_int() const noexcept { return type() == kind::integer; }
    [[nodiscard]] bool is_float() const noexcept { return type() == kind::floating; }
    [[nodiscard]] bool is_number() const noexcept { return is_int() || is_float(); }
    [[nodiscard]] bool is_string() const noexcept { return type() == kind::string; }
    [[nodiscard]] bool is_binary() const noexcept { return type() == kind::binary; }
    [[nodiscard]] bool is_list() const noexcept { return type() == kind::list; }
    [[nodiscard]] bool is_tuple() const noexcept { return type() == kind::tuple; }
    [[nodiscard]] bool is_map() const noexcept { return type() == kind::map; }
    [[nodiscard]] bool is_undefined() const noexcept { return is_atom("undefined"); }

    // Accessors: throw rot::error(errc::badarg) when the term is of another kind.
    [[nodiscard]] const std::string& atom_name() const;
    [[nodiscard]] std::int64_t as_int() const;
    [[nodiscard]] double as_float() const;  ///< Integers convert too.
    [[nodiscard]] const std::string& as_string() const;
    [[nodiscard]] const binary& as_binary() const;
    /// Moves the bytes out (the term keeps an empty binary); badarg if not a binary.
    [[nodiscard]] binary take_binary() &&;
    [[nodiscard]] const list_type& as_list() const;
    [[nodiscard]] list_type& as_list();
    [[nodiscard]] const tuple_type& as_tuple() const;
    [[nodiscard]] tuple_type& as_tuple();
    [[nodiscard]] const map_type& as_map() const;
    /// The value under key in a map, or nullptr (also when not a map).
    [[nodiscard]] const term* find(const term& key) const;

    /// Convert to a C++ type (rot/convert.hpp); throws rot::error(errc::badarg).
    template <class T>
    [[nodiscard]] T as() const;

    friend bool operator==(const term& a, const term& b) noexcept;
    friend std::strong_ordering operator<=>(const term& a, const term& b) noexcept;

    /// Name of a kind for messages: "integer", "atom", ...
    [[nodiscard]] static std::string_view kind_name(kind k) noexcept;

private:
    struct tuple_box {
        tuple_type items;
    };
    struct map_box {
        map_type entries;
    };
    struct string_box {
        std::string text;
    };
    template <class I>
    static std::int64_t checked_int(I i);
    [[noreturn]] void wrong_kind(kind expected) const;

    std::variant<std::int64_t, double, atom, tuple_box, map_box, list_type, string_box, binary> v_;

    friend struct detail_access;
};

template <class I>
std::int64_t term::checked_int(I i) {
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
        if (i > static_cast<std::uint64_t>(INT64_MAX)) detail::throw_int_range();
    }
    return static_cast<std::int64_t>(i);
}

// Building terms: rot::list(1, "a"), rot::tuple(atom("ok"), 3), rot::map({{"k", 1}}).
template <class... Ts>
[[nodiscard]] term list(Ts&&... xs) {
    return term::make_list(term::list_type{term(std::forward<Ts>(xs))...});
}
template <class... Ts>
[[nodiscard]] term tuple(Ts&&... xs) {
    return term::make_tuple(term::tuple_type{term(std::forward<Ts>(xs))...});
}
[[nodiscard]] inline term map(term::map_type entries) { return term::make_map(std::move(entries)); }

/// Parse the Erlang-flavoured text form, e.g. `{ok, [1, 2.5, "x", <<1,2>>, #{a => 1}]}`.
/// Throws rot::error(errc::parse_error) saying where (line:column) and what was expected.
[[nodiscard]] term parse_term(std::string_view text);

/// The text form (what fmt prints); parse_term(to_string(t)) == t.
[[nodiscard]] std::string to_string(const term& t);

/// The binary form (docs/PROTOCOL.md, "Terms"). from_binary() throws
/// rot::error(errc::protocol_error) on malformed input and never allocates
/// more than the input could hold.
[[nodiscard]] binary to_binary(const term& t);
[[nodiscard]] term from_binary(std::span<const std::uint8_t> bytes);

}  // namespace rot

template <>
struct fmt::formatter<rot::term> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const rot::term& t, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(rot::to_string(t), ctx);
    }
};

#include <rot/convert.hpp>
