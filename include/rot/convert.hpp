#pragma once
// Conversions between C++ values and rot::term. Included by rot/term.hpp.
//
// rot::convert<T> has `static term to_term(const T&)` and
// `static T from_term(const term&)`; from_term throws rot::error(errc::badarg)
// naming what it expected. Specialise it for your own types, or give them a
// cereal serialize() and they travel as a binary.

#include <rot/error.hpp>
#include <rot/term.hpp>

#include <cstddef>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <cereal/archives/portable_binary.hpp>

namespace rot {

namespace detail {
/// Throws rot::error(errc::badarg): "expected <what>, got <kind> <term>".
[[noreturn]] void bad_conversion(std::string_view what, const term& got);
}  // namespace detail

template <class T>
T term::as() const {
    return convert<T>::from_term(*this);
}

/// Shorthands: rot::to_term(x) and rot::from_term<T>(t).
template <class T>
[[nodiscard]] term to_term(const T& v) {
    return term(v);
}
template <class T>
[[nodiscard]] T from_term(const term& t) {
    return convert<T>::from_term(t);
}

template <>
struct convert<term> {
    static term to_term(const term& t) { return t; }
    static term from_term(const term& t) { return t; }
};

template <class I>
    requires(std::integral<I> && !std::same_as<I, bool> && !std::same_as<I, char>)
struct convert<I> {
    static term to_term(I v) { return term(v); }
    static I from_term(const term& t) {
        if (!t.is_int()) detail::bad_conversion("integer", t);
        const std::int64_t v = t.as_int();
        if constexpr (std::is_unsigned_v<I>) {
            if (v < 0 || static_cast<std::uint64_t>(v) > std::numeric_limits<I>::max())
                detail::bad_conversion("integer in range of the parameter type", t);
        } else {
            if (v < std::numeric_limits<I>::min() || v > std::numeric_limits<I>::max())
                detail::bad_conversion("integer in range of the parameter type", t);
        }
        return static_cast<I>(v);
    }
};

template <>
struct convert<bool> {
    static term to_term(bool b) { return term(b); }
    static bool from_term(const term& t) {
        if (t.is_atom("true")) return true;
        if (t.is_atom("false")) return false;
        detail::bad_conversion("boolean", t);
    }
};

template <std::floating_point F>
struct convert<F> {
    static term to_term(F v) { return term(static_cast<double>(v)); }
    static F from_term(const term& t) {
        if (!t.is_number()) detail::bad_conversion("number", t);
        return static_cast<F>(t.as_float());
    }
};

template <>
struct convert<std::string> {
    static term to_term(const std::string& s) { return term(s); }
    /// A string, an atom's name, or a binary taken as bytes.
    static std::string from_term(const term& t) {
        if (t.is_string()) return t.as_string();
        if (t.is_atom()) return t.atom_name();
        if (t.is_binary()) return {t.as_binary().begin(), t.as_binary().end()};
        detail::bad_conversion("string", t);
    }
};

/// A view into the term's text: valid while the term lives (handler arguments do).
template <>
struct convert<std::string_view> {
    static term to_term(std::string_view s) { return term(s); }
    static std::string_view from_term(const term& t) {
        if (t.is_string()) return t.as_string();
        if (t.is_atom()) return t.atom_name();
        if (t.is_binary())
            return {reinterpret_cast<const char*>(t.as_binary().data()), t.as_binary().size()};
        detail::bad_conversion("string", t);
    }
};

template <>
struct convert<atom> {
    static term to_term(const atom& a) { return term(a); }
    static atom from_term(const term& t) {
        if (!t.is_atom()) detail::bad_conversion("atom", t);
        return atom(t.atom_name());
    }
};

template <>
struct convert<binary> {
    static term to_term(const binary& b) { return term(b); }
    static binary from_term(const term& t) {
        if (!t.is_binary()) detail::bad_conversion("binary", t);
        return t.as_binary();
    }
};

/// Byte vectors travel as binaries (copied: a rot::binary shares instead).
template <class B>
    requires(std::same_as<B, std::uint8_t> || std::same_as<B, std::byte>)
struct convert<std::vector<B>> {
    static term to_term(const std::vector<B>& b) {
        return term(binary(std::span(reinterpret_cast<const std::uint8_t*>(b.data()), b.size())));
    }
    static std::vector<B> from_term(const term& t) {
        if (!t.is_binary()) detail::bad_conversion("binary", t);
        const auto& b = t.as_binary();
        const auto* p = reinterpret_cast<const B*>(b.data());
        return {p, p + b.size()};
    }
};

template <class T, class A>
    requires(!std::same_as<T, std::uint8_t> && !std::same_as<T, std::byte>)
struct convert<std::vector<T, A>> {
    static term to_term(const std::vector<T, A>& v) {
        term::list_type items;
        items.reserve(v.size());
        for (const auto& x : v) items.emplace_back(convert<T>::to_term(x));
        return term::make_list(std::move(items));
    }
    static std::vector<T, A> from_term(const term& t) {
        if (!t.is_list()) detail::bad_conversion("list", t);
        std::vector<T, A> out;
        out.reserve(t.as_list().size());
        for (const auto& x : t.as_list()) out.push_back(convert<T>::from_term(x));
        return out;
    }
};

namespace detail {
template <class M>
struct map_convert {
    using K = typename M::key_type;
    using V = typename M::mapped_type;
    static term to_term(const M& m) {
        term::map_type entries;
        entries.reserve(m.size());
        for (const auto& [k, v] : m) entries.emplace_back(convert<K>::to_term(k), convert<V>::to_term(v));
        return term::make_map(std::move(entries));
    }
    static M from_term(const term& t) {
        if (!t.is_map()) bad_conversion("map", t);
        M out;
        for (const auto& [k, v] : t.as_map()) out.emplace(convert<K>::from_term(k), convert<V>::from_term(v));
        return out;
    }
};
}  // namespace detail

template <class K, class V, class C, class A>
struct convert<std::map<K, V, C, A>> : detail::map_convert<std::map<K, V, C, A>> {};
template <class K, class V, class H, class E, class A>
struct convert<std::unordered_map<K, V, H, E, A>>
    : detail::map_convert<std::unordered_map<K, V, H, E, A>> {};

template <class... Ts>
struct convert<std::tuple<Ts...>> {
    static term to_term(const std::tuple<Ts...>& v) {
        return std::apply(
            [](const auto&... xs) {
                return term::make_tuple({convert<std::remove_cvref_t<decltype(xs)>>::to_term(xs)...});
            },
            v);
    }
    static std::tuple<Ts...> from_term(const term& t) {
        if (!t.is_tuple() || t.as_tuple().size() != sizeof...(Ts))
            bad_size(t);
        return unpack(t.as_tuple(), std::index_sequence_for<Ts...>{});
    }

private:
    [[noreturn]] static void bad_size(const term& t) {
        detail::bad_conversion("tuple of " + std::to_string(sizeof...(Ts)) + " elements", t);
    }
    template <std::size_t... I>
    static std::tuple<Ts...> unpack(const term::tuple_type& xs, std::index_sequence<I...>) {
        return {convert<Ts>::from_term(xs[I])...};
    }
};

template <class A, class B>
struct convert<std::pair<A, B>> {
    static term to_term(const std::pair<A, B>& p) {
        return term::make_tuple({convert<A>::to_term(p.first), convert<B>::to_term(p.second)});
    }
    static std::pair<A, B> from_term(const term& t) {
        auto [a, b] = convert<std::tuple<A, B>>::from_term(t);
        return {std::move(a), std::move(b)};
    }
};

/// std::nullopt is the atom `undefined`.
template <class T>
struct convert<std::optional<T>> {
    static term to_term(const std::optional<T>& v) { return v ? convert<T>::to_term(*v) : term(); }
    static std::optional<T> from_term(const term& t) {
        if (t.is_undefined()) return std::nullopt;
        return convert<T>::from_term(t);
    }
};

namespace detail {
template <class T>
concept cereal_serializable =
    std::is_class_v<T> && std::is_default_constructible_v<T> &&
    cereal::traits::is_output_serializable<T, cereal::PortableBinaryOutputArchive>::value &&
    cereal::traits::is_input_serializable<T, cereal::PortableBinaryInputArchive>::value;
}  // namespace detail

/// A user type with a cereal serialize() travels as a binary holding its
/// cereal portable-binary encoding. Decoding trusts cereal: see docs/SECURITY.md.
template <class T>
    requires(detail::cereal_serializable<T> && !std::same_as<T, term> && !std::same_as<T, atom> &&
             !std::same_as<T, std::string> && !std::same_as<T, binary>)
struct convert<T> {
    static term to_term(const T& v) {
        std::ostringstream os;
        {
            cereal::PortableBinaryOutputArchive ar(os);
            ar(v);
        }
        const std::string s = std::move(os).str();
        return term(binary(s.begin(), s.end()));
    }
    static T from_term(const term& t) {
        if (!t.is_binary()) detail::bad_conversion("binary (cereal-encoded)", t);
        const auto& b = t.as_binary();
        std::istringstream is(std::string(b.begin(), b.end()));
        T v{};
        try {
            cereal::PortableBinaryInputArchive ar(is);
            ar(v);
        } catch (const cereal::Exception&) {
            detail::bad_conversion("binary holding a valid cereal encoding", t);
        } catch (const std::length_error&) {
            // cereal sizes a container from the input before reading it, so
            // a garbage size surfaces here or as bad_alloc, not as cereal::Exception.
            detail::bad_conversion("binary holding a valid cereal encoding", t);
        } catch (const std::bad_alloc&) {
            detail::bad_conversion("binary holding a valid cereal encoding", t);
        }
        return v;
    }
};

}  // namespace rot
