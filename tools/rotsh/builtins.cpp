#include "builtins.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "operators.hpp"
#include "shell.hpp"

namespace rotsh {

using rot::term;

namespace {

using args_t = std::vector<term>;

// The function being called, for messages: "length" or "lists:seq".
thread_local std::string_view g_module = "erlang";

std::string qualified(std::string_view name) {
    return g_module == "erlang" ? std::string(name) : fmt::format("{}:{}", g_module, name);
}

[[noreturn]] void badarg(std::string_view name, const args_t& a, std::string_view why = {}) {
    const std::string f = qualified(name);
    throw shell_error("badarg", fmt::format("bad argument in function {}/{}: {}({}){}", f, a.size(), f,
                                            fmt::join(a, ", "), why));
}

// lists:seq builds at most this many elements: a typo must not take the
// machine's memory.
constexpr std::int64_t max_built_list = 1'000'000;

bool less(const term& a, const term& b) { return compare_by_value(a, b) < 0; }

constexpr std::string_view not_a_list = " (a string is not a list of characters here)";

const term::list_type& list_arg(std::string_view n, const args_t& a, std::size_t i) {
    if (!a[i].is_list()) badarg(n, a, a[i].is_string() ? not_a_list : "");
    return a[i].as_list();
}

const term::map_type& map_arg(std::string_view, const args_t& a, std::size_t i) {
    if (!a[i].is_map()) throw shell_error("badmap", fmt::format("bad map: {}", a[i]));
    return a[i].as_map();
}

/// Entries by key, the last for each key kept (as erl's from_list and merge).
term map_of_entries(term::map_type entries) {
    std::stable_sort(entries.begin(), entries.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    term::map_type out;
    out.reserve(entries.size());
    for (auto& kv : entries) {
        if (!out.empty() && out.back().first == kv.first) out.back().second = std::move(kv.second);
        else out.push_back(std::move(kv));
    }
    return term::make_map(std::move(out));
}

/// `m` with `key` set to `value` (or removed, without one).
term map_with(const term::map_type& m, const term& key, const term* value) {
    term::map_type out;
    out.reserve(m.size() + 1);
    for (const auto& kv : m)
        if (kv.first != key) out.push_back(kv);
    if (value) out.emplace_back(key, *value);
    return term::make_map(std::move(out));
}

/// A 1-based position in 1..size, or badarg.
std::size_t position(std::string_view name, const args_t& a, std::size_t size) {
    if (!a[0].is_int() || a[0].as_int() < 1 || static_cast<std::uint64_t>(a[0].as_int()) > size) badarg(name, a);
    return static_cast<std::size_t>(a[0].as_int()) - 1;
}

/// A whole float as an integer; an overflow when it does not fit 64 bits.
term to_integer(std::string_view name, const args_t& a, double d) {
    // 2^63 is the first double past INT64_MAX; -2^63 is INT64_MIN exactly.
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        throw shell_error("badarith", fmt::format("integer overflow (integers are 64-bit): {}({})", name, a[0]));
    return static_cast<std::int64_t>(d);
}

struct builtin {
    std::string_view module;
    std::string_view name;
    std::size_t arity;
    term (*fn)(std::string_view name, const args_t& a);
};

template <bool (term::*test)() const noexcept>
term type_test(std::string_view, const args_t& a) {
    return term((a[0].*test)());
}

constexpr builtin builtins[] = {
    {"erlang", "abs", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (a[0].is_float()) return std::fabs(a[0].as_float());
         if (!a[0].is_int()) badarg(n, a);
         if (a[0].as_int() == std::numeric_limits<std::int64_t>::min())
             throw shell_error("badarith", fmt::format("integer overflow (integers are 64-bit): abs({})", a[0]));
         return a[0].as_int() < 0 ? -a[0].as_int() : a[0].as_int();
     }},
    {"erlang", "byte_size", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (a[0].is_binary()) return a[0].as_binary().size();
         if (a[0].is_string()) return a[0].as_string().size();
         badarg(n, a);
     }},
    {"erlang", "element", 2,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[1].is_tuple()) badarg(n, a);
         return a[1].as_tuple()[position(n, a, a[1].as_tuple().size())];
     }},
    {"erlang", "float", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_number()) badarg(n, a);
         return a[0].as_float();
     }},
    {"erlang", "hd", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (list_arg(n, a, 0).empty()) badarg(n, a);
         return a[0].as_list().front();
     }},
    {"erlang", "is_atom", 1, type_test<&term::is_atom>},
    {"erlang", "is_binary", 1, type_test<&term::is_binary>},
    {"erlang", "is_boolean", 1, [](std::string_view, const args_t& a) -> term { return a[0].is_atom("true") || a[0].is_atom("false"); }},
    {"erlang", "is_float", 1, type_test<&term::is_float>},
    {"erlang", "is_integer", 1, type_test<&term::is_int>},
    {"erlang", "is_list", 1, type_test<&term::is_list>},
    {"erlang", "is_map", 1, type_test<&term::is_map>},
    {"erlang", "is_map_key", 2,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[1].is_map()) badarg(n, a);
         return a[1].find(a[0]) != nullptr;
     }},
    {"erlang", "is_number", 1, type_test<&term::is_number>},
    {"erlang", "is_tuple", 1, type_test<&term::is_tuple>},
    {"erlang", "length", 1,
     [](std::string_view n, const args_t& a) -> term {
         return list_arg(n, a, 0).size();
     }},
    {"erlang", "list_to_tuple", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_list()) badarg(n, a);
         return term::make_tuple(a[0].as_list());
     }},
    {"erlang", "map_get", 2,
     [](std::string_view n, const args_t& a) -> term {
         (void)map_arg(n, a, 1);
         if (const term* v = a[1].find(a[0])) return *v;
         throw shell_error("badkey", fmt::format("bad key: {}", a[0]));
     }},
    {"erlang", "map_size", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_map()) badarg(n, a);
         return a[0].as_map().size();
     }},
    // As erl: by value (== order), the first when they are equal.
    {"erlang", "max", 2,
     [](std::string_view, const args_t& a) -> term { return binary_operation("<", a[0], a[1]).is_atom("true") ? a[1] : a[0]; }},
    {"erlang", "min", 2,
     [](std::string_view, const args_t& a) -> term { return binary_operation(">", a[0], a[1]).is_atom("true") ? a[1] : a[0]; }},
    {"erlang", "round", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (a[0].is_int()) return a[0];
         if (!a[0].is_float()) badarg(n, a);
         return to_integer(n, a, std::round(a[0].as_float()));
     }},
    {"erlang", "setelement", 3,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[1].is_tuple()) badarg(n, a);
         term::tuple_type items = a[1].as_tuple();
         items[position(n, a, items.size())] = a[2];
         return term::make_tuple(std::move(items));
     }},
    {"erlang", "tl", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (list_arg(n, a, 0).empty()) badarg(n, a);
         return term::make_list(term::list_type(a[0].as_list().begin() + 1, a[0].as_list().end()));
     }},
    {"erlang", "trunc", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (a[0].is_int()) return a[0];
         if (!a[0].is_float()) badarg(n, a);
         return to_integer(n, a, std::trunc(a[0].as_float()));
     }},
    {"erlang", "tuple_size", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_tuple()) badarg(n, a);
         return a[0].as_tuple().size();
     }},
    {"erlang", "tuple_to_list", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_tuple()) badarg(n, a);
         return term::make_list(a[0].as_tuple());
     }},
    // lists
    {"lists", "append", 2,
     [](std::string_view n, const args_t& a) -> term {
         term::list_type out = list_arg(n, a, 0);
         const auto& more = list_arg(n, a, 1);
         out.insert(out.end(), more.begin(), more.end());
         return term::make_list(std::move(out));
     }},
    {"lists", "keyfind", 3,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[1].is_int() || a[1].as_int() < 1) badarg(n, a);
         const auto pos = static_cast<std::uint64_t>(a[1].as_int()) - 1;
         for (const auto& x : list_arg(n, a, 2))
             if (x.is_tuple() && pos < x.as_tuple().size() && compare_by_value(x.as_tuple()[pos], a[0]) == 0) return x;
         return false;
     }},
    {"lists", "last", 1,
     [](std::string_view n, const args_t& a) -> term {
         const auto& l = list_arg(n, a, 0);
         if (l.empty()) badarg(n, a);
         return l.back();
     }},
    {"lists", "max", 1,
     [](std::string_view n, const args_t& a) -> term {
         const auto& l = list_arg(n, a, 0);
         if (l.empty()) badarg(n, a);
         return *std::max_element(l.begin(), l.end(), less);
     }},
    {"lists", "member", 2,
     [](std::string_view n, const args_t& a) -> term {
         const auto& l = list_arg(n, a, 1);
         return std::find(l.begin(), l.end(), a[0]) != l.end();  // =:=, as erl
     }},
    {"lists", "min", 1,
     [](std::string_view n, const args_t& a) -> term {
         const auto& l = list_arg(n, a, 0);
         if (l.empty()) badarg(n, a);
         return *std::min_element(l.begin(), l.end(), less);
     }},
    {"lists", "nth", 2,
     [](std::string_view n, const args_t& a) -> term {
         const auto& l = list_arg(n, a, 1);
         return l[position(n, a, l.size())];
     }},
    {"lists", "reverse", 1,
     [](std::string_view n, const args_t& a) -> term {
         const auto& l = list_arg(n, a, 0);
         return term::make_list(term::list_type(l.rbegin(), l.rend()));
     }},
    {"lists", "seq", 2,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_int() || !a[1].is_int()) badarg(n, a);
         const std::int64_t from = a[0].as_int();
         const std::int64_t to = a[1].as_int();
         // to - from + 1 can overflow 64 bits (so can counting up to INT64_MAX): in 128.
         const __int128 count = static_cast<__int128>(to) - from + 1;
         if (count < 0) badarg(n, a);
         if (count > max_built_list) badarg(n, a, fmt::format(" (more than {} elements)", max_built_list));
         term::list_type out;
         out.reserve(static_cast<std::size_t>(count));
         for (std::int64_t k = 0; k < static_cast<std::int64_t>(count); ++k) out.emplace_back(from + k);
         return term::make_list(std::move(out));
     }},
    {"lists", "sort", 1,
     [](std::string_view n, const args_t& a) -> term {
         term::list_type l = list_arg(n, a, 0);
         std::stable_sort(l.begin(), l.end(), less);
         return term::make_list(std::move(l));
     }},
    {"lists", "sum", 1,
     [](std::string_view n, const args_t& a) -> term {
         term sum = 0;
         for (const auto& x : list_arg(n, a, 0)) sum = binary_operation("+", sum, x);
         return sum;
     }},
    {"lists", "usort", 1,
     [](std::string_view n, const args_t& a) -> term {
         term::list_type l = list_arg(n, a, 0);
         std::stable_sort(l.begin(), l.end(), less);
         l.erase(std::unique(l.begin(), l.end(),
                             [](const term& x, const term& y) { return compare_by_value(x, y) == 0; }),
                 l.end());
         return term::make_list(std::move(l));
     }},
    {"lists", "zip", 2,
     [](std::string_view n, const args_t& a) -> term {
         const auto& x = list_arg(n, a, 0);
         const auto& y = list_arg(n, a, 1);
         if (x.size() != y.size()) badarg(n, a);
         term::list_type out;
         out.reserve(x.size());
         for (std::size_t i = 0; i < x.size(); ++i) out.push_back(rot::tuple(x[i], y[i]));
         return term::make_list(std::move(out));
     }},
    // maps
    {"maps", "find", 2,
     [](std::string_view n, const args_t& a) -> term {
         (void)map_arg(n, a, 1);
         if (const term* v = a[1].find(a[0])) return rot::tuple(rot::atom("ok"), *v);
         return rot::atom("error");
     }},
    {"maps", "from_list", 1,
     [](std::string_view n, const args_t& a) -> term {
         term::map_type entries;
         for (const auto& kv : list_arg(n, a, 0)) {
             if (!kv.is_tuple() || kv.as_tuple().size() != 2) badarg(n, a);
             entries.emplace_back(kv.as_tuple()[0], kv.as_tuple()[1]);
         }
         return map_of_entries(std::move(entries));
     }},
    {"maps", "get", 2,
     [](std::string_view n, const args_t& a) -> term {
         (void)map_arg(n, a, 1);
         if (const term* v = a[1].find(a[0])) return *v;
         throw shell_error("badkey", fmt::format("bad key: {}", a[0]));
     }},
    {"maps", "get", 3,
     [](std::string_view n, const args_t& a) -> term {
         (void)map_arg(n, a, 1);
         const term* v = a[1].find(a[0]);
         return v ? *v : a[2];
     }},
    {"maps", "is_key", 2,
     [](std::string_view n, const args_t& a) -> term {
         (void)map_arg(n, a, 1);
         return a[1].find(a[0]) != nullptr;
     }},
    {"maps", "keys", 1,
     [](std::string_view n, const args_t& a) -> term {
         term::list_type out;
         for (const auto& kv : map_arg(n, a, 0)) out.push_back(kv.first);
         return term::make_list(std::move(out));
     }},
    {"maps", "merge", 2,
     [](std::string_view n, const args_t& a) -> term {
         term::map_type entries = map_arg(n, a, 0);
         const auto& later = map_arg(n, a, 1);
         entries.insert(entries.end(), later.begin(), later.end());
         return map_of_entries(std::move(entries));
     }},
    {"maps", "put", 3, [](std::string_view n, const args_t& a) -> term { return map_with(map_arg(n, a, 2), a[0], &a[1]); }},
    {"maps", "remove", 2, [](std::string_view n, const args_t& a) -> term { return map_with(map_arg(n, a, 1), a[0], nullptr); }},
    {"maps", "size", 1, [](std::string_view n, const args_t& a) -> term { return map_arg(n, a, 0).size(); }},
    {"maps", "to_list", 1,
     [](std::string_view n, const args_t& a) -> term {
         term::list_type out;
         for (const auto& kv : map_arg(n, a, 0)) out.push_back(rot::tuple(kv.first, kv.second));
         return term::make_list(std::move(out));
     }},
    {"maps", "values", 1,
     [](std::string_view n, const args_t& a) -> term {
         term::list_type out;
         for (const auto& kv : map_arg(n, a, 0)) out.push_back(kv.second);
         return term::make_list(std::move(out));
     }},
};

const builtin* find(std::string_view module, std::string_view name, std::size_t arity) {
    for (const auto& b : builtins)
        if (b.module == module && b.name == name && b.arity == arity) return &b;
    return nullptr;
}

}  // namespace

bool is_builtin(std::string_view module, std::string_view name, std::size_t arity) {
    return find(module, name, arity) != nullptr;
}

term call_builtin(std::string_view module, std::string_view name, const std::vector<term>& args) {
    const builtin* b = find(module, name, args.size());
    if (!b) throw shell_error("undef", fmt::format("undefined function {}:{}/{}", module, name, args.size()));
    g_module = b->module;
    return b->fn(name, args);
}

std::vector<std::string_view> builtin_names(std::string_view module) {
    std::vector<std::string_view> out;
    for (const auto& b : builtins)
        if (b.module == module) out.push_back(b.name);
    return out;
}

bool has_builtins(std::string_view module) { return module == "erlang" || module == "lists" || module == "maps"; }

}  // namespace rotsh
