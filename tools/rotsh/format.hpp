#pragma once
// How rotsh prints results: term text on one line, wrapped like Erlang's ~p,
// or JSON (the mapping is in docs/SHELL.md, "JSON").

#include <rot/term.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace rotsh {

/// t in term syntax. With width 0, on one line (what fmt prints); otherwise
/// like Erlang's ~p: a tuple, list or map whose one-line form does not fit
/// within `width` columns is broken across lines, its elements aligned after
/// its opening bracket. Atoms, numbers, strings and binaries are never broken,
/// so a line holding one longer than the width is longer too.
[[nodiscard]] std::string pretty(const rot::term& t, std::size_t width);

/// t as one line of JSON.
[[nodiscard]] std::string to_json(const rot::term& t);

/// {"error":{"kind":"<kind>","message":"<message>"}}: a failure as one line of JSON.
[[nodiscard]] std::string json_error(std::string_view kind, std::string_view message);

}  // namespace rotsh
