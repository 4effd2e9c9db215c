#pragma once
// erl's pure built-in functions: the auto-imported ones (length/1,
// element/2, is_atom/1...), called bare or as erlang:F(...), and the most used
// of lists and maps (lists:seq/2, maps:get/2...), called as M:F(...).

#include <rot/term.hpp>

#include <cstddef>
#include <string_view>
#include <vector>

namespace rotsh {

/// Whether `module:name/arity` is one of them (module "erlang" for a bare call).
[[nodiscard]] bool is_builtin(std::string_view module, std::string_view name, std::size_t arity);

/// `module:name(args...)`. Throws shell_error (badarg, badarith, badkey) as
/// erl raises; the caller checked is_builtin().
[[nodiscard]] rot::term call_builtin(std::string_view module, std::string_view name,
                                     const std::vector<rot::term>& args);

/// The names of `module`'s, for completion.
[[nodiscard]] std::vector<std::string_view> builtin_names(std::string_view module);

/// The modules that have some: erlang, lists, maps.
[[nodiscard]] bool has_builtins(std::string_view module);

}  // namespace rotsh
