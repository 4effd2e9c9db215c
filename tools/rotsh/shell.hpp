#pragma once
// The rotsh language: Erlang-flavoured expressions over a rot::node.
// main.cpp deals with argv and the terminal; everything else is here, so
// tests can drive a shell without either.

#include <rot/rot.hpp>

#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace rotsh {

/// What evaluating one expression printed, as one line.
struct outcome {
    std::string line;   ///< a term, or "** exception error: ..."
    bool ok = true;     ///< false for exceptions and {error, _} answers
    bool quit = false;  ///< q() was evaluated
};

class shell {
public:
    /// `say` receives text printed along the way (help()'s lines).
    explicit shell(rot::node& node, std::function<void(std::string_view)> say = {});

    /// Evaluates every expression in `input`; each ends with `.` (optional at the end).
    [[nodiscard]] std::vector<outcome> eval(std::string_view input);

    /// Completions for the word line[start, end): shell functions, connected
    /// node names, and remote module:function names (asked with rot:exports).
    [[nodiscard]] std::vector<std::string> complete(std::string_view line, std::size_t start,
                                                    std::size_t end);


    /// One line per shell function.
    [[nodiscard]] static const std::vector<std::string>& help_lines();

private:
    outcome eval_one(std::string_view expr);
    rot::term apply(std::string_view function, const rot::term::list_type& args);
    std::vector<std::string> remote_names(std::string_view peer, std::string_view module);

    rot::node& node_;
    std::function<void(std::string_view)> say_;
};

/// Splits input into expressions at each `.` that ends one (followed by
/// whitespace, `%` or the end, outside strings and quoted atoms).
[[nodiscard]] std::vector<std::string> split_expressions(std::string_view input);

/// "** exception error: ..." for a failure.
[[nodiscard]] std::string exception_line(const rot::failure& f);

}  // namespace rotsh
