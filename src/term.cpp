// The term value type: construction, access and ordering.

#include <rot/term.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "utf8.hpp"

namespace rot {

binary::binary(std::vector<std::uint8_t> bytes) {
    if (bytes.empty()) return;
    size_ = bytes.size();
    auto owner = std::make_shared<std::vector<std::uint8_t>>(std::move(bytes));
    const std::uint8_t* p = owner->data();
    data_ = std::shared_ptr<const std::uint8_t>(std::move(owner), p);
}

binary::binary(std::span<const std::uint8_t> bytes) {
    if (bytes.empty()) return;
    // One allocation for the count and the bytes.
    auto owner = std::make_shared_for_overwrite<std::uint8_t[]>(bytes.size());
    std::memcpy(owner.get(), bytes.data(), bytes.size());
    size_ = bytes.size();
    const std::uint8_t* p = owner.get();
    data_ = std::shared_ptr<const std::uint8_t>(std::move(owner), p);
}

binary::binary(std::size_t n, std::uint8_t fill) {
    if (n == 0) return;
    auto owner = std::make_shared_for_overwrite<std::uint8_t[]>(n);
    std::memset(owner.get(), fill, n);
    size_ = n;
    const std::uint8_t* p = owner.get();
    data_ = std::shared_ptr<const std::uint8_t>(std::move(owner), p);
}

binary binary::share(std::shared_ptr<const void> owner, std::span<const std::uint8_t> bytes) noexcept {
    binary b;
    if (bytes.empty()) return b;
    b.size_ = bytes.size();
    b.data_ = std::shared_ptr<const std::uint8_t>(std::move(owner), bytes.data());
    return b;
}

binary binary::slice(std::size_t pos, std::size_t n) const {
    if (pos > size_) throw std::out_of_range("rot::binary::slice: position past the end");
    binary b;
    b.size_ = std::min(n, size_ - pos);
    if (b.size_ > 0) b.data_ = std::shared_ptr<const std::uint8_t>(data_, data() + pos);
    return b;
}

bool operator==(const binary& a, const binary& b) noexcept {
    return a.size() == b.size() && (a.data() == b.data() || std::equal(a.begin(), a.end(), b.begin()));
}

std::strong_ordering operator<=>(const binary& a, const binary& b) noexcept {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
}

namespace detail {

void throw_int_range() { throw std::out_of_range("rot::term: integer above INT64_MAX"); }

bool valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int n;
        char32_t cp;
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (end - p <= n) return false;
        for (int i = 1; i <= n; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        static constexpr char32_t min_for_length[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_for_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        p += n + 1;
    }
    return true;
}

std::string sanitize_utf8(std::string_view s, std::size_t max_bytes) {
    std::string out;
    out.reserve(std::min(s.size(), max_bytes));
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        const bool valid = n != 0 && i + n <= s.size() && valid_utf8(s.substr(i, n));
        const std::size_t width = valid ? n : 1;
        if (out.size() + width > max_bytes) break;
        if (valid) out.append(s.substr(i, n));
        else out += '?';
        i += width;
    }
    return out;
}

void bad_conversion(std::string_view what, const term& got) {
    std::string shown = to_string(got);
    if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
    throw error(errc::badarg, fmt::format("expected {}, got {} {}", what,
                                          term::kind_name(got.type()), shown));
}

}  // namespace detail

term::term(double d) : v_(d) {
    if (!std::isfinite(d)) throw std::domain_error("rot::term: floats must be finite");
}

// Braces, not in_place_type: string_box is an aggregate, and building one from
// parentheses (P0960) is C++20 that clang before 16 does not implement.
term::term(std::string s) : v_(string_box{std::move(s)}) {
    if (!detail::valid_utf8(std::get<string_box>(v_).text))
        throw std::invalid_argument("rot::term: string is not valid UTF-8 (use a binary for bytes)");
}

term term::make_list(list_type items) {
    term t;
    t.v_.emplace<list_type>(std::move(items));
    return t;
}

term term::make_tuple(tuple_type items) {
    term t;
    t.v_.emplace<tuple_box>(tuple_box{std::move(items)});
    return t;
}

term term::make_map(map_type entries) {
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    const auto dup = std::adjacent_find(entries.begin(), entries.end(),
                                        [](const auto& a, const auto& b) { return a.first == b.first; });
    if (dup != entries.end())
        throw std::invalid_argument("rot::term: duplicate map key " + to_string(dup->first));
    term t;
    t.v_.emplace<map_box>(map_box{std::move(entries)});
    return t;
}

term term::make_string_unchecked(std::string s) {
    term t;
    t.v_.emplace<string_box>(string_box{std::move(s)});
    return t;
}

term term::make_string_lossy(std::string_view s) {
    return make_string_unchecked(detail::sanitize_utf8(s, s.size()));
}

bool term::is_atom(std::string_view name) const noexcept {
    const auto* a = std::get_if<atom>(&v_);
    return a && a->name == name;
}

void term::wrong_kind(kind expected) const { detail::bad_conversion(kind_name(expected), *this); }

const std::string& term::atom_name() const {
    if (const auto* a = std::get_if<atom>(&v_)) return a->name;
    wrong_kind(kind::atom);
}
std::int64_t term::as_int() const {
    if (const auto* i = std::get_if<std::int64_t>(&v_)) return *i;
    wrong_kind(kind::integer);
}
double term::as_float() const {
    if (const auto* d = std::get_if<double>(&v_)) return *d;
    if (const auto* i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
    wrong_kind(kind::floating);
}
const std::string& term::as_string() const {
    if (const auto* s = std::get_if<string_box>(&v_)) return s->text;
    wrong_kind(kind::string);
}
const binary& term::as_binary() const {
    if (const auto* b = std::get_if<binary>(&v_)) return *b;
    wrong_kind(kind::binary);
}
binary term::take_binary() && {
    if (auto* b = std::get_if<binary>(&v_)) return std::move(*b);
    wrong_kind(kind::binary);
}
const term::list_type& term::as_list() const {
    if (const auto* l = std::get_if<list_type>(&v_)) return *l;
    wrong_kind(kind::list);
}
term::list_type& term::as_list() {
    if (auto* l = std::get_if<list_type>(&v_)) return *l;
    wrong_kind(kind::list);
}
const term::tuple_type& term::as_tuple() const {
    if (const auto* t = std::get_if<tuple_box>(&v_)) return t->items;
    wrong_kind(kind::tuple);
}
term::tuple_type& term::as_tuple() {
    if (auto* t = std::get_if<tuple_box>(&v_)) return t->items;
    wrong_kind(kind::tuple);
}
const term::map_type& term::as_map() const {
    if (const auto* m = std::get_if<map_box>(&v_)) return m->entries;
    wrong_kind(kind::map);
}

const term* term::find(const term& key) const {
    const auto* m = std::get_if<map_box>(&v_);
    if (!m) return nullptr;
    const auto it = std::lower_bound(m->entries.begin(), m->entries.end(), key,
                                     [](const auto& e, const term& k) { return e.first < k; });
    return it != m->entries.end() && it->first == key ? &it->second : nullptr;
}

std::string_view term::kind_name(kind k) noexcept {
    switch (k) {
        case kind::integer: return "integer";
        case kind::floating: return "float";
        case kind::atom: return "atom";
        case kind::tuple: return "tuple";
        case kind::map: return "map";
        case kind::list: return "list";
        case kind::string: return "string";
        case kind::binary: return "binary";
    }
    return "term";
}

namespace {

// Numbers compare by value; an integer sorts before a float of equal value so
// the order stays total and agrees with == (1 and 1.0 are different terms).
std::strong_ordering compare_numbers(const term& a, const term& b) {
    const long double x = a.is_int() ? static_cast<long double>(a.as_int()) : a.as_float();
    const long double y = b.is_int() ? static_cast<long double>(b.as_int()) : b.as_float();
    if (x < y) return std::strong_ordering::less;
    if (x > y) return std::strong_ordering::greater;
    return a.is_int() == b.is_int() ? std::strong_ordering::equal
           : a.is_int()             ? std::strong_ordering::less
                                    : std::strong_ordering::greater;
}

template <class Seq>
std::strong_ordering compare_seq(const Seq& a, const Seq& b) {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
}

int rank(kind k) { return k == kind::floating ? static_cast<int>(kind::integer) : static_cast<int>(k); }

}  // namespace

bool operator==(const term& a, const term& b) noexcept { return (a <=> b) == 0; }

std::strong_ordering operator<=>(const term& a, const term& b) noexcept {
    if (a.is_number() && b.is_number()) return compare_numbers(a, b);
    if (const auto r = rank(a.type()) <=> rank(b.type()); r != 0) return r;
    switch (a.type()) {
        case kind::atom: return a.atom_name() <=> b.atom_name();
        case kind::string: return a.as_string() <=> b.as_string();
        case kind::binary: return compare_seq(a.as_binary(), b.as_binary());
        case kind::list: return compare_seq(a.as_list(), b.as_list());
        case kind::tuple: {
            // As Erlang: a smaller tuple sorts first, then element by element.
            const auto& x = a.as_tuple();
            const auto& y = b.as_tuple();
            if (const auto r = x.size() <=> y.size(); r != 0) return r;
            return compare_seq(x, y);
        }
        case kind::map: {
            const auto& x = a.as_map();
            const auto& y = b.as_map();
            if (const auto r = x.size() <=> y.size(); r != 0) return r;
            for (std::size_t i = 0; i < x.size(); ++i)
                if (const auto r = x[i].first <=> y[i].first; r != 0) return r;
            for (std::size_t i = 0; i < x.size(); ++i)
                if (const auto r = x[i].second <=> y[i].second; r != 0) return r;
            return std::strong_ordering::equal;
        }
        default: return std::strong_ordering::equal;  // numbers handled above
    }
}

}  // namespace rot
