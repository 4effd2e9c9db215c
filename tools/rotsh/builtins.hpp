#pragma once
// erl's pure built-in functions (length/1, element/2, is_atom/1...), which
// an erl user calls without a module or as erlang:F(...).

#include <rot/term.hpp>

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace rotsh {

/// Whether `name`/`arity` is one of them.
[[nodiscard]] bool is_builtin(std::string_view name, std::size_t arity);

/// `name(args...)`. Throws shell_error (badarg, badarith) as erl raises;
/// the caller checked is_builtin().
[[nodiscard]] rot::term call_builtin(std::string_view name, const std::vector<rot::term>& args);

/// Their names, for completion.
[[nodiscard]] std::vector<std::string_view> builtin_names();

}  // namespace rotsh
