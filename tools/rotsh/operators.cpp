#include "operators.hpp"

#include <fmt/format.h>

#include <compare>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "shell.hpp"

namespace rotsh {

using rot::term;

namespace {

using int64 = std::int64_t;

[[noreturn]] void badarith(std::string_view op, const term& a, const term& b) {
    throw shell_error("badarith",
                      fmt::format("an error occurred when evaluating an arithmetic expression: {} {} {}", a, op, b));
}

[[noreturn]] void overflow(std::string_view op, const term& a, const term& b) {
    throw shell_error("badarith", fmt::format("integer overflow (integers are 64-bit): {} {} {}", a, op, b));
}

[[noreturn]] void badarg(std::string_view op, const term& a, const term& b, std::string_view why = {}) {
    throw shell_error("badarg", fmt::format("bad argument in operator {}/2: {} {} {}{}", op, a, op, b, why));
}

/// A float result, or badarith when it is not finite (terms hold none).
term float_result(double r, std::string_view op, const term& a, const term& b) {
    try {
        return term(r);
    } catch (const std::domain_error&) {
        badarith(op, a, b);
    }
}

bool is_boolean(const term& t) { return t.is_atom("true") || t.is_atom("false"); }
bool empty_list(const term& t) { return t.is_list() && t.as_list().empty(); }
const std::string no_text;

// Term order with numbers compared by value (1 == 1.0), as erl's == and <.
std::weak_ordering compare(const term& a, const term& b);

template <class Seq>
std::weak_ordering compare_items(const Seq& x, const Seq& y) {
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
        if (const auto r = compare(x[i], y[i]); r != 0) return r;
    return x.size() <=> y.size();
}

std::weak_ordering compare(const term& a, const term& b) {
    if (a.is_number() && b.is_number()) {
        // long double holds every int64 exactly, and every double.
        const long double x = a.is_int() ? static_cast<long double>(a.as_int()) : a.as_float();
        const long double y = b.is_int() ? static_cast<long double>(b.as_int()) : b.as_float();
        return x < y ? std::weak_ordering::less : x > y ? std::weak_ordering::greater : std::weak_ordering::equivalent;
    }
    if (a.type() != b.type()) return a <=> b;
    switch (a.type()) {
        case rot::kind::list: return compare_items(a.as_list(), b.as_list());
        case rot::kind::tuple:
            if (const auto r = a.as_tuple().size() <=> b.as_tuple().size(); r != 0) return r;
            return compare_items(a.as_tuple(), b.as_tuple());
        case rot::kind::map: {
            const auto& x = a.as_map();
            const auto& y = b.as_map();
            if (const auto r = x.size() <=> y.size(); r != 0) return r;
            // Keys compare exactly (#{1 => a} /= #{1.0 => a}), values by value.
            for (std::size_t i = 0; i < x.size(); ++i)
                if (const auto r = x[i].first <=> y[i].first; r != 0) return r;
            for (std::size_t i = 0; i < x.size(); ++i)
                if (const auto r = compare(x[i].second, y[i].second); r != 0) return r;
            return std::weak_ordering::equivalent;
        }
        default: return a <=> b;
    }
}

/// The UTF-8 characters of a string, each as its bytes.
std::vector<std::string_view> characters(std::string_view s) {
    std::vector<std::string_view> out;
    for (std::size_t i = 0; i < s.size();) {
        const auto lead = static_cast<unsigned char>(s[i]);
        const std::size_t n = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        out.push_back(s.substr(i, n));
        i += n;
    }
    return out;
}

/// `left` without the first occurrence of each of `right` (=:=), in
/// O(n log m) rather than erl's quadratic walk.
template <class T>
std::vector<T> subtract(const std::vector<T>& left, const std::vector<T>& right) {
    std::map<T, std::size_t> remove;
    for (const auto& x : right) ++remove[x];
    std::vector<T> out;
    for (const auto& x : left) {
        if (const auto it = remove.find(x); it != remove.end() && it->second > 0) {
            --it->second;
            continue;
        }
        out.push_back(x);
    }
    return out;
}

term integer_operation(std::string_view op, const term& a, const term& b) {
    const int64 x = a.as_int();
    const int64 y = b.as_int();
    int64 r = 0;
    if (op == "+") {
        if (__builtin_add_overflow(x, y, &r)) overflow(op, a, b);
    } else if (op == "-") {
        if (__builtin_sub_overflow(x, y, &r)) overflow(op, a, b);
    } else if (op == "*") {
        if (__builtin_mul_overflow(x, y, &r)) overflow(op, a, b);
    } else if (op == "div") {
        if (y == 0) badarith(op, a, b);
        if (x == std::numeric_limits<int64>::min() && y == -1) overflow(op, a, b);
        r = x / y;  // truncates toward zero, as div
    } else if (op == "rem") {
        if (y == 0) badarith(op, a, b);
        r = y == -1 ? 0 : x % y;  // the sign of the dividend, as rem
    } else if (op == "band") {
        r = x & y;
    } else if (op == "bor") {
        r = x | y;
    } else if (op == "bxor") {
        r = x ^ y;
    } else {
        // bsl and bsr; a negative count shifts the other way.
        const bool left = (op == "bsl") == (y >= 0);
        const std::uint64_t n = y >= 0 ? static_cast<std::uint64_t>(y) : 0 - static_cast<std::uint64_t>(y);
        if (!left) {
            r = n >= 63 ? (x < 0 ? -1 : 0) : x >> n;
        } else if (x != 0) {
            if (n >= 64) overflow(op, a, b);
            r = static_cast<int64>(static_cast<std::uint64_t>(x) << n);
            if ((r >> n) != x) overflow(op, a, b);
        }
    }
    return r;
}

}  // namespace

std::weak_ordering compare_by_value(const term& a, const term& b) { return compare(a, b); }

term unary_operation(std::string_view op, const term& x) {
    if (op == "not") {
        if (!is_boolean(x)) throw shell_error("badarg", fmt::format("bad argument in operator not/1: not {}", x));
        return term(x.is_atom("false"));
    }
    if (op == "bnot") {
        if (!x.is_int()) throw shell_error("badarith", fmt::format("an error occurred when evaluating an arithmetic expression: bnot {}", x));
        return ~x.as_int();
    }
    if (!x.is_number())
        throw shell_error("badarith",
                          fmt::format("an error occurred when evaluating an arithmetic expression: {}{}", op, x));
    if (op == "+" || x.is_float()) return op == "+" ? x : term(-x.as_float());
    if (x.as_int() == std::numeric_limits<int64>::min())
        throw shell_error("badarith", fmt::format("integer overflow (integers are 64-bit): -({})", x));
    return -x.as_int();
}

term binary_operation(std::string_view op, const term& a, const term& b) {
    if (op == "==") return term(compare(a, b) == 0);
    if (op == "/=") return term(compare(a, b) != 0);
    if (op == "<") return term(compare(a, b) < 0);
    if (op == "=<") return term(compare(a, b) <= 0);
    if (op == ">") return term(compare(a, b) > 0);
    if (op == ">=") return term(compare(a, b) >= 0);
    if (op == "=:=") return term(a == b);
    if (op == "=/=") return term(a != b);
    if (op == "and" || op == "or" || op == "xor") {
        if (!is_boolean(a) || !is_boolean(b)) badarg(op, a, b);
        const bool x = a.is_atom("true");
        const bool y = b.is_atom("true");
        return term(op == "and" ? x && y : op == "or" ? x || y : x != y);
    }
    if (op == "++" || op == "--") {
        // [] is erl's empty string too.
        const bool strings = (a.is_string() || empty_list(a)) && (b.is_string() || empty_list(b)) &&
                             (a.is_string() || b.is_string());
        if (strings) {
            const std::string& x = a.is_string() ? a.as_string() : no_text;
            const std::string& y = b.is_string() ? b.as_string() : no_text;
            if (op == "++") return term::make_string_unchecked(x + y);
            std::string out;
            for (const auto c : subtract(characters(x), characters(y))) out += c;
            return term::make_string_unchecked(std::move(out));
        }
        if (a.is_list() && b.is_list()) {
            if (op == "--") return term::make_list(subtract(a.as_list(), b.as_list()));
            term::list_type items = a.as_list();
            items.insert(items.end(), b.as_list().begin(), b.as_list().end());
            return term::make_list(std::move(items));
        }
        if ((a.is_list() && b.is_string()) || (a.is_string() && b.is_list()))
            badarg(op, a, b, " (a string is not a list of characters here)");
        badarg(op, a, b, a.is_list() && op == "++" ? " (terms have no improper lists)" : "");
    }
    // Arithmetic.
    if (!a.is_number() || !b.is_number()) badarith(op, a, b);
    if (op == "/") {
        if (b.as_float() == 0.0) badarith(op, a, b);
        return float_result(a.as_float() / b.as_float(), op, a, b);
    }
    if (a.is_int() && b.is_int()) return integer_operation(op, a, b);
    if (op == "+") return float_result(a.as_float() + b.as_float(), op, a, b);
    if (op == "-") return float_result(a.as_float() - b.as_float(), op, a, b);
    if (op == "*") return float_result(a.as_float() * b.as_float(), op, a, b);
    badarith(op, a, b);  // div, rem and the bit operators take integers only
}

}  // namespace rotsh
