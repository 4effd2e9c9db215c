// libFuzzer target for the rotsh language's reader, which takes whatever a
// user types or a script holds.
//
// The input, as text, is cut into statements and each is parsed: parsing
// must succeed or throw rot::error (a syntax error), and is_complete() must
// answer. A term that parses as a literal must print, wrapped and as JSON,
// without throwing, and its wrapped form must read back as the same term.
// A term {A, B} is given to every operator (A op B, op A): each answers or
// throws rotsh::shell_error (badarith, badarg), never overflows or crashes;
// so does every built-in function, given (A), (A, B) or (A, B, A).
// Anything else (another exception, a crash, a sanitizer report, a mismatch)
// is a bug. Seeds live in tests/corpus/shell/.

#include <rot/error.hpp>
#include <rot/term.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "builtins.hpp"
#include "format.hpp"
#include "operators.hpp"
#include "shell.hpp"
#include "syntax.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)rotsh::shell::is_complete(text);
    const auto cut = rotsh::split_statements(text);
    for (const auto& s : cut.ended) {
        try {
            (void)rotsh::parse_statement(s);
        } catch (const rot::error&) {
        }
    }
    try {
        (void)rotsh::parse_statement(cut.rest);
    } catch (const rot::error&) {
    }

    rot::term t;
    try {
        t = rot::parse_term(text);
    } catch (const rot::error&) {
        return 0;
    }
    (void)rotsh::to_json(t);
    if (t.is_tuple() && t.as_tuple().size() == 2) {
        static constexpr std::string_view binary[] = {"+",  "-",  "*",  "/",   "div", "rem", "band", "bor",
                                                      "bxor", "bsl", "bsr", "==",  "/=",  "<",   "=<",   ">",
                                                      ">=", "=:=", "=/=", "and", "or",  "xor", "++",   "--"};
        const rot::term& a = t.as_tuple()[0];
        const rot::term& b = t.as_tuple()[1];
        for (const auto op : binary) {
            try {
                (void)rotsh::binary_operation(op, a, b);
            } catch (const rotsh::shell_error&) {
            }
        }
        for (const auto op : {"-", "+", "bnot", "not"}) {
            try {
                (void)rotsh::unary_operation(op, a);
            } catch (const rotsh::shell_error&) {
            }
        }
        for (const auto module : {"erlang", "lists", "maps"}) {
            for (const auto name : rotsh::builtin_names(module)) {
                const std::vector<rot::term> args{a, b, a};
                for (std::size_t n = 1; n <= args.size(); ++n) {
                    if (!rotsh::is_builtin(module, name, n)) continue;
                    try {
                        (void)rotsh::call_builtin(module, name,
                                                  {args.begin(), args.begin() + static_cast<std::ptrdiff_t>(n)});
                    } catch (const rotsh::shell_error&) {
                    }
                }
            }
        }
    }
    if (rot::parse_term(rotsh::pretty(t, 40)) != t) {
        std::fprintf(stderr, "shell_fuzz: wrapping changed %s\n", rot::to_string(t).c_str());
        std::abort();
    }
    return 0;
}
