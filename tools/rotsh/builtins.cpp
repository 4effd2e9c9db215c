#include "builtins.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "operators.hpp"
#include "shell.hpp"

namespace rotsh {

using rot::term;

namespace {

using args_t = std::vector<term>;

[[noreturn]] void badarg(std::string_view name, const args_t& a) {
    throw shell_error("badarg", fmt::format("bad argument in function {}/{}: {}({})", name, a.size(), name,
                                            fmt::join(a, ", ")));
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
    std::string_view name;
    std::size_t arity;
    term (*fn)(std::string_view name, const args_t& a);
};

template <bool (term::*test)() const noexcept>
term type_test(std::string_view, const args_t& a) {
    return term((a[0].*test)());
}

constexpr builtin builtins[] = {
    {"abs", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (a[0].is_float()) return std::fabs(a[0].as_float());
         if (!a[0].is_int()) badarg(n, a);
         if (a[0].as_int() == std::numeric_limits<std::int64_t>::min())
             throw shell_error("badarith", fmt::format("integer overflow (integers are 64-bit): abs({})", a[0]));
         return a[0].as_int() < 0 ? -a[0].as_int() : a[0].as_int();
     }},
    {"byte_size", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (a[0].is_binary()) return a[0].as_binary().size();
         if (a[0].is_string()) return a[0].as_string().size();
         badarg(n, a);
     }},
    {"element", 2,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[1].is_tuple()) badarg(n, a);
         return a[1].as_tuple()[position(n, a, a[1].as_tuple().size())];
     }},
    {"float", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_number()) badarg(n, a);
         return a[0].as_float();
     }},
    {"hd", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_list() || a[0].as_list().empty()) badarg(n, a);
         return a[0].as_list().front();
     }},
    {"is_atom", 1, type_test<&term::is_atom>},
    {"is_binary", 1, type_test<&term::is_binary>},
    {"is_boolean", 1, [](std::string_view, const args_t& a) -> term { return a[0].is_atom("true") || a[0].is_atom("false"); }},
    {"is_float", 1, type_test<&term::is_float>},
    {"is_integer", 1, type_test<&term::is_int>},
    {"is_list", 1, type_test<&term::is_list>},
    {"is_map", 1, type_test<&term::is_map>},
    {"is_map_key", 2,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[1].is_map()) badarg(n, a);
         return a[1].find(a[0]) != nullptr;
     }},
    {"is_number", 1, type_test<&term::is_number>},
    {"is_tuple", 1, type_test<&term::is_tuple>},
    {"length", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_list()) badarg(n, a);
         return a[0].as_list().size();
     }},
    {"list_to_tuple", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_list()) badarg(n, a);
         return term::make_tuple(a[0].as_list());
     }},
    {"map_get", 2,
     [](std::string_view n, const args_t& a) -> term {
         const term* v = a[1].is_map() ? a[1].find(a[0]) : nullptr;
         if (!v) badarg(n, a);
         return *v;
     }},
    {"map_size", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_map()) badarg(n, a);
         return a[0].as_map().size();
     }},
    // As erl: by value (== order), the first when they are equal.
    {"max", 2,
     [](std::string_view, const args_t& a) -> term { return binary_operation("<", a[0], a[1]).is_atom("true") ? a[1] : a[0]; }},
    {"min", 2,
     [](std::string_view, const args_t& a) -> term { return binary_operation(">", a[0], a[1]).is_atom("true") ? a[1] : a[0]; }},
    {"round", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (a[0].is_int()) return a[0];
         if (!a[0].is_float()) badarg(n, a);
         return to_integer(n, a, std::round(a[0].as_float()));
     }},
    {"setelement", 3,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[1].is_tuple()) badarg(n, a);
         term::tuple_type items = a[1].as_tuple();
         items[position(n, a, items.size())] = a[2];
         return term::make_tuple(std::move(items));
     }},
    {"tl", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_list() || a[0].as_list().empty()) badarg(n, a);
         return term::make_list(term::list_type(a[0].as_list().begin() + 1, a[0].as_list().end()));
     }},
    {"trunc", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (a[0].is_int()) return a[0];
         if (!a[0].is_float()) badarg(n, a);
         return to_integer(n, a, std::trunc(a[0].as_float()));
     }},
    {"tuple_size", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_tuple()) badarg(n, a);
         return a[0].as_tuple().size();
     }},
    {"tuple_to_list", 1,
     [](std::string_view n, const args_t& a) -> term {
         if (!a[0].is_tuple()) badarg(n, a);
         return term::make_list(a[0].as_tuple());
     }},
};

const builtin* find(std::string_view name, std::size_t arity) {
    for (const auto& b : builtins)
        if (b.name == name && b.arity == arity) return &b;
    return nullptr;
}

}  // namespace

bool is_builtin(std::string_view name, std::size_t arity) { return find(name, arity) != nullptr; }

term call_builtin(std::string_view name, const std::vector<term>& args) {
    const builtin* b = find(name, args.size());
    if (!b) throw shell_error("undef", fmt::format("undefined function erlang:{}/{}", name, args.size()));
    return b->fn(name, args);
}

std::vector<std::string_view> builtin_names() {
    std::vector<std::string_view> out;
    for (const auto& b : builtins) out.push_back(b.name);
    return out;
}

}  // namespace rotsh
