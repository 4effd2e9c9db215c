#pragma once
// The rotsh language's syntax: statements, and the expressions in them.
//
// Literals are read by rot::parse_term, so every term that parses as a term
// means the same thing here; the rest (variables, calls, operators, `=`, `,`)
// is a small recursive-descent parser over tokens, with erl's operator
// precedence.

#include <rot/term.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rotsh {

/// Where something starts in a statement: line and column (in bytes), from 1.
struct position {
    std::size_t line = 1;
    std::size_t column = 1;
};

/// An expression; on the left of `=`, a pattern.
struct expr {
    enum class kind {
        literal,   ///< `value`
        variable,  ///< `name`; `_` matches anything and is never bound
        tuple,     ///< `items`
        list,      ///< `items`; with `has_tail`, the last item is the tail of [H, ... | T]
        map,       ///< `items` are key, value, key, value...; `exact[i]` when entry i used `:=`
        call,      ///< `callee` is {Function} or {Module, Function} (atoms or variables); `items` the arguments
        match,     ///< `items[0] = items[1]`: a pattern and an expression
        op,        ///< operator `name` (`+`, `div`, `andalso`...) on `items` (one operand or two)
        comprehension,  ///< `[items[0] || items[1], ...]`: generators and filters
        generator,      ///< `items[0] <- items[1]`: a pattern and a list, in a comprehension
    };
    kind what = kind::literal;
    position where;
    rot::term value;
    std::string name;
    std::vector<expr> items;
    std::vector<expr> callee;
    std::vector<bool> exact;
    bool has_tail = false;
    std::size_t height = 1;  ///< levels of expressions, this one included (bounded by the parser)
};

/// One statement: expressions separated by `,`, evaluated in order.
using statement = std::vector<expr>;

/// Parses one statement (without its ending dot). Throws
/// rot::error(errc::parse_error) "line:column: what was expected but found".
[[nodiscard]] statement parse_statement(std::string_view text);

/// Input cut into statements at each `.` that ends one (followed by
/// whitespace, `%` or the end, outside strings, quoted atoms, `$c` and
/// comments). Statements are trimmed, without their dot, and comments are
/// cut out (their line ends stay, so lines and columns do not move).
struct statements {
    std::vector<std::string> ended;
    std::string rest;  ///< an unfinished statement after the last dot, trimmed; empty if none
};
[[nodiscard]] statements split_statements(std::string_view input);

}  // namespace rotsh
