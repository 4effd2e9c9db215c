#pragma once
// What erl's operators do, on rot terms: arithmetic on 64-bit integers and
// floats (an overflow is an error, not a wrap), comparison in term order with
// numbers by value (`==`) or exactly (`=:=`), booleans, and `++`/`--` on
// lists and strings. `andalso` and `orelse` are the evaluator's: they
// evaluate their right side only when it decides.

#include <rot/term.hpp>

#include <compare>
#include <string_view>

namespace rotsh {

/// `op` (`-`, `+`, `bnot`, `not`) applied to `x`. Throws shell_error
/// (badarith, badarg) as erl raises.
[[nodiscard]] rot::term unary_operation(std::string_view op, const rot::term& x);

/// Term order with numbers compared by value, as erl's `==` and `<`
/// (1 == 1.0; map keys compare exactly).
[[nodiscard]] std::weak_ordering compare_by_value(const rot::term& a, const rot::term& b);

/// `a op b`, for every binary operator but `andalso` and `orelse`.
[[nodiscard]] rot::term binary_operation(std::string_view op, const rot::term& a, const rot::term& b);

}  // namespace rotsh
