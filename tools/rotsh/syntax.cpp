#include "syntax.hpp"

#include <rot/error.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <utility>

namespace rotsh {

using rot::errc;
using rot::term;

namespace {

// As deep as rot lets terms nest: a value built deeper could not be sent
// anyway, and the limit bounds the parser's recursion whatever the input.
constexpr int max_depth = 100;
// How tall an expression may grow: a flat chain of operators (1 + 2 + ...)
// does not nest in the parser but does in the evaluator, and the limit
// bounds its recursion (and the tree's destruction).
constexpr std::size_t max_height = 1000;

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }
bool is_upper(char c) noexcept { return c >= 'A' && c <= 'Z'; }
bool is_name_char(char c) noexcept { return is_lower(c) || is_upper(c) || is_digit(c) || c == '_' || c == '@'; }
bool is_space(char c) noexcept { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

[[noreturn]] void fail_at(position at, std::string_view message) {
    throw rot::error(errc::parse_error, fmt::format("{}:{}: {}", at.line, at.column, message));
}

// rot::parse_term says "line:column: what" counting from the start of the
// text it was given; this makes that count from `origin` instead.
[[noreturn]] void fail_from(const rot::error& e, position origin) {
    const std::string& m = e.message();
    const char* const end = m.data() + m.size();
    std::size_t line = 0, column = 0;
    const auto [after_line, e1] = std::from_chars(m.data(), end, line);
    if (e1 == std::errc() && after_line != end && *after_line == ':') {
        const auto [after_column, e2] = std::from_chars(after_line + 1, end, column);
        if (e2 == std::errc() && after_column != end && *after_column == ':' && line > 0 && column > 0) {
            const position at = line == 1 ? position{origin.line, origin.column + column - 1}
                                          : position{origin.line + line - 1, column};
            fail_at(at, trim(std::string_view(after_column + 1, end)));
        }
    }
    throw e;
}

// --- Tokens ---------------------------------------------------------------------

enum class tok { literal, atom, variable, punct, end };

struct token {
    tok kind = tok::end;
    std::string_view text;
    position where;
    term value;  ///< literals and atoms
};

// Where literals end is all the lexer decides: their values (and what is
// wrong with them) come from rot::parse_term, so the two never disagree.
class lexer {
public:
    explicit lexer(std::string_view text) : text_(text) {
        for (std::size_t i = 0; i < text_.size(); ++i)
            if (text_[i] == '\n') line_starts_.push_back(i + 1);
    }

    std::vector<token> tokens() {
        std::vector<token> out;
        for (;;) {
            skip_space();
            if (pos_ >= text_.size()) {
                out.push_back({tok::end, {}, where(pos_), {}});
                return out;
            }
            // After a value, + and - are operators (X-1); elsewhere a sign
            // belongs to the number (f(-1), so that -9223372036854775808 reads).
            out.push_back(next(!out.empty() && ends_value(out.back())));
        }
    }

private:
    [[nodiscard]] char at(std::size_t i) const noexcept { return i < text_.size() ? text_[i] : '\0'; }
    [[nodiscard]] bool looking_at(std::size_t i, std::string_view s) const noexcept {
        return text_.substr(std::min(i, text_.size())).starts_with(s);
    }

    [[nodiscard]] position where(std::size_t pos) const {
        const auto line = std::upper_bound(line_starts_.begin(), line_starts_.end(), pos) - 1;
        return {static_cast<std::size_t>(line - line_starts_.begin()) + 1, pos - *line + 1};
    }

    void skip_space() {
        while (pos_ < text_.size()) {
            if (text_[pos_] == '%') {
                while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
            } else if (is_space(text_[pos_])) {
                ++pos_;
            } else {
                return;
            }
        }
    }

    // An operator word (div, not...) is no value: `X div -1`.
    static bool ends_value(const token& t) {
        static constexpr std::string_view words[] = {"div", "rem", "band", "bor", "bxor", "bsl", "bsr", "and",
                                                     "or",  "xor", "andalso", "orelse", "not", "bnot"};
        if (t.kind == tok::atom) return std::find(std::begin(words), std::end(words), t.text) == std::end(words);
        return t.kind != tok::punct || t.text == ")" || t.text == "]" || t.text == "}";
    }

    token next(bool after_value) {
        const std::size_t start = pos_;
        const char c = text_[pos_];
        if (is_lower(c)) return literal(tok::atom, start, name_end(pos_));
        if (is_upper(c) || c == '_') {
            pos_ = name_end(pos_);
            return {tok::variable, text_.substr(start, pos_ - start), where(start), {}};
        }
        if (c == '\'') return literal(tok::atom, start, quoted_end(pos_));
        if (c == '"') return literal(tok::literal, start, quoted_end(pos_));
        if (c == '$') return literal(tok::literal, start, char_end(pos_));
        if (is_digit(c) || (!after_value && (c == '-' || c == '+') && is_digit(at(pos_ + 1))))
            return literal(tok::literal, start, number_end(pos_));
        if (looking_at(pos_, "<<")) return literal(tok::literal, start, binary_end(pos_));
        // Anything else is punctuation; what does not belong is the parser's to report.
        pos_ += punct_length();
        return {tok::punct, text_.substr(start, pos_ - start), where(start), {}};
    }

    // The longest operator here; `=<<` is `=` and a binary (B=<<1>>), not `=<`.
    [[nodiscard]] std::size_t punct_length() const {
        for (std::string_view p : {"=:=", "=/="})
            if (looking_at(pos_, p)) return 3;
        if (looking_at(pos_, "=<<")) return 1;
        for (std::string_view p : {"=>", ":=", "==", "/=", "=<", ">=", "++", "--", "||", "<-"})
            if (looking_at(pos_, p)) return 2;
        return 1;
    }

    token literal(tok kind, std::size_t start, std::size_t end) {
        pos_ = end;
        const auto text = text_.substr(start, end - start);
        token t{kind, text, where(start), {}};
        try {
            t.value = rot::parse_term(text);
        } catch (const rot::error& e) {
            fail_from(e, t.where);
        }
        return t;
    }

    [[nodiscard]] std::size_t name_end(std::size_t i) const {
        while (is_name_char(at(i))) ++i;
        return i;
    }

    // One past the quote that closes the one at i; the end of the text if
    // none does (parse_term then says "unterminated").
    [[nodiscard]] std::size_t quoted_end(std::size_t i) const {
        const char quote = text_[i];
        for (++i; i < text_.size(); ++i) {
            if (text_[i] == '\\') ++i;
            else if (text_[i] == quote) return i + 1;
        }
        return text_.size();
    }

    // $c, where c is one UTF-8 character or an escape (\n, \x41, \x{1F600}, \101).
    [[nodiscard]] std::size_t char_end(std::size_t i) const {
        ++i;
        if (at(i) != '\\') {
            const auto lead = static_cast<unsigned char>(at(i));
            const std::size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            return std::min(i + len, text_.size());
        }
        ++i;
        if (at(i) == 'x') {
            ++i;
            if (at(i) == '{') {
                const auto close = text_.find('}', i);
                return close == std::string_view::npos ? text_.size() : close + 1;
            }
            for (int n = 0; n < 2 && std::isxdigit(static_cast<unsigned char>(at(i))); ++n) ++i;
            return i;
        }
        if (at(i) >= '0' && at(i) <= '7') {
            for (int n = 0; n < 3 && at(i) >= '0' && at(i) <= '7'; ++n) ++i;
            return i;
        }
        return std::min(i + 1, text_.size());
    }

    // [+-]Digits, Base#Digits, or Digits.Digits[e[+-]Digits].
    [[nodiscard]] std::size_t number_end(std::size_t i) const {
        if (at(i) == '-' || at(i) == '+') ++i;
        const std::size_t digits = i;
        while (is_digit(at(i))) ++i;
        if (at(i) == '#') {
            // The digits of the base, so 16#fg is 16#f and then g; a bad base is parse_term's to report.
            unsigned base = 36;
            (void)std::from_chars(text_.data() + digits, text_.data() + i, base);
            const auto in_base = [&](char c) {
                const int v = is_digit(c) ? c - '0' : is_lower(c) ? c - 'a' + 10 : is_upper(c) ? c - 'A' + 10 : 36;
                return v < static_cast<int>(std::min(base, 36u));
            };
            for (++i; in_base(at(i)); ++i) {
            }
            return i;
        }
        if (at(i) != '.' || !is_digit(at(i + 1))) return i;
        for (++i; is_digit(at(i)); ++i) {
        }
        const std::size_t sign = (at(i + 1) == '-' || at(i + 1) == '+') ? 1 : 0;
        if ((at(i) == 'e' || at(i) == 'E') && is_digit(at(i + 1 + sign)))
            for (i += 1 + sign; is_digit(at(i)); ++i) {
            }
        return i;
    }

    // <<...>>, skipping what may hide a ">>": strings, $c and comments.
    [[nodiscard]] std::size_t binary_end(std::size_t i) const {
        for (i += 2; i < text_.size();) {
            const char c = text_[i];
            if (c == '"' || c == '\'') i = quoted_end(i);
            else if (c == '$') i = char_end(i);
            else if (c == '%') i = std::min(text_.find('\n', i), text_.size());
            else if (looking_at(i, ">>")) return i + 2;
            else ++i;
        }
        return text_.size();
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::vector<std::size_t> line_starts_{0};
};

// --- Expressions -----------------------------------------------------------------

std::string describe(const token& t) {
    if (t.kind == tok::end) return "end of input";
    if (t.kind != tok::punct) {
        if (t.text.size() <= 40) return std::string(t.text);
        return fmt::format("{}...", t.text.substr(0, 37));
    }
    const auto c = static_cast<unsigned char>(t.text[0]);
    if (c == '\'') return "\"'\"";
    if (c >= 0x20 && c < 0x7F) return fmt::format("'{}'", t.text);
    return fmt::format("byte 0x{:02X}", c);
}

expr make(expr::kind what, position where) {
    expr e;
    e.what = what;
    e.where = where;
    return e;
}

/// `e`, its height set from its parts' (already bounded) heights.
expr grown(expr e) {
    std::size_t below = 0;
    for (const auto& x : e.items) below = std::max(below, x.height);
    for (const auto& x : e.callee) below = std::max(below, x.height);
    e.height = below + 1;
    if (e.height > max_height)
        fail_at(e.where, fmt::format("an expression more than {} operations deep", max_height));
    return e;
}

// erl's binary operators, loosest first; `=` is below them all (expression()).
struct binary_operator {
    std::string_view name;
    int precedence;
    enum { left, right, none } associates;
};
constexpr binary_operator binary_operators[] = {
    {"orelse", 1, binary_operator::left},  {"andalso", 2, binary_operator::left},
    {"==", 3, binary_operator::none},      {"/=", 3, binary_operator::none},
    {"=<", 3, binary_operator::none},      {"<", 3, binary_operator::none},
    {">=", 3, binary_operator::none},      {">", 3, binary_operator::none},
    {"=:=", 3, binary_operator::none},     {"=/=", 3, binary_operator::none},
    {"++", 4, binary_operator::right},     {"--", 4, binary_operator::right},
    {"+", 5, binary_operator::left},       {"-", 5, binary_operator::left},
    {"bor", 5, binary_operator::left},     {"bxor", 5, binary_operator::left},
    {"bsl", 5, binary_operator::left},     {"bsr", 5, binary_operator::left},
    {"or", 5, binary_operator::left},      {"xor", 5, binary_operator::left},
    {"*", 6, binary_operator::left},       {"/", 6, binary_operator::left},
    {"div", 6, binary_operator::left},     {"rem", 6, binary_operator::left},
    {"band", 6, binary_operator::left},    {"and", 6, binary_operator::left},
};

/// Punctuation, or an unquoted atom, that is one of `names`.
template <std::size_t N>
bool spelled(const token& t, const std::string_view (&names)[N]) {
    if (t.kind != tok::punct && t.kind != tok::atom) return false;
    return std::find(std::begin(names), std::end(names), t.text) != std::end(names);
}

const binary_operator* as_binary_operator(const token& t) {
    if (t.kind != tok::punct && t.kind != tok::atom) return nullptr;  // a quoted 'div' is an atom
    for (const auto& op : binary_operators)
        if (op.name == t.text) return &op;
    return nullptr;
}

class parser {
public:
    explicit parser(std::vector<token> tokens) : tokens_(std::move(tokens)) {}

    statement parse() {
        statement out;
        do {
            out.push_back(expression(0));
        } while (accept(","));
        if (peek().kind != tok::end) fail("',' or '.'");
        for (const auto& e : out) check_expression(e);
        return out;
    }

private:
    [[nodiscard]] const token& peek() const { return tokens_[i_]; }
    [[nodiscard]] bool at_punct(std::string_view p) const {
        return peek().kind == tok::punct && peek().text == p;
    }
    bool accept(std::string_view p) {
        if (!at_punct(p)) return false;
        ++i_;
        return true;
    }
    void expect(std::string_view p, std::string_view expected) {
        if (!accept(p)) fail(expected);
    }
    [[noreturn]] void fail(std::string_view expected) const {
        // X<-1 reads as X <- 1, as in Erlang.
        const bool arrow = peek().kind == tok::punct && peek().text == "<-" && i_ > 0 &&
                           tokens_[i_ - 1].kind != tok::punct;
        fail_at(peek().where, fmt::format("expected {} but found {}{}", expected, describe(peek()),
                                          arrow ? " (outside a list comprehension, write X < -1 with a space)" : ""));
    }

    void check_depth(int depth) const {
        if (depth >= max_depth)
            fail_at(peek().where, fmt::format("expressions nested deeper than {}", max_depth));
    }

    // Pattern = Expression is right-associative: A = B = f() binds both.
    expr expression(int depth) {
        check_depth(depth);
        expr left = operation(depth, 1);
        if (!accept("=")) return left;
        check_pattern(left);
        expr m = make(expr::kind::match, left.where);
        m.items.push_back(std::move(left));
        m.items.push_back(expression(depth + 1));
        return grown(std::move(m));
    }

    // Binary operators binding at least as tightly as `least`, by
    // precedence climbing: a left-associative chain is a loop here, a right
    // operand one level of nesting deeper.
    expr operation(int depth, int least) {
        check_depth(depth);
        expr left = unary(depth);
        while (const binary_operator* op = as_binary_operator(peek())) {
            if (op->precedence < least) break;
            if (op->name == "<" && tokens_[i_ + 1].kind == tok::punct && tokens_[i_ + 1].text == "=" &&
                tokens_[i_ + 1].where.line == peek().where.line &&
                tokens_[i_ + 1].where.column == peek().where.column + 1)
                fail_at(peek().where, "there is no '<=': at most is '=<' (as in Erlang)");
            expr e = make(expr::kind::op, peek().where);
            e.name = std::string(op->name);
            ++i_;
            e.items.push_back(std::move(left));
            e.items.push_back(operation(depth + 1, op->associates == binary_operator::right ? op->precedence
                                                                                             : op->precedence + 1));
            left = grown(std::move(e));
            if (const binary_operator* next = as_binary_operator(peek());
                op->associates == binary_operator::none && next && next->precedence == op->precedence)
                fail_at(peek().where, "comparisons do not chain (use andalso)");
        }
        return left;
    }

    // -X, +X, bnot X, not X; a sign on a number literal folds into it, so
    // that `-1` is still a literal (and a pattern).
    expr unary(int depth) {
        static constexpr std::string_view prefixes[] = {"-", "+", "bnot", "not"};
        const token& t = peek();
        if (!spelled(t, prefixes) || !starts_operand(tokens_[i_ + 1])) return primary(depth);
        check_depth(depth + 1);
        ++i_;
        expr operand = unary(depth + 1);
        if (operand.what == expr::kind::literal && operand.value.is_number() && (t.text == "-" || t.text == "+")) {
            if (t.text == "+") return operand;
            if (operand.value.is_float()) {
                operand.value = -operand.value.as_float();
                return operand;
            }
            if (operand.value.as_int() != std::numeric_limits<std::int64_t>::min()) {
                operand.value = -operand.value.as_int();
                return operand;
            }
        }
        expr e = make(expr::kind::op, t.where);
        e.name = std::string(t.text);
        e.items.push_back(std::move(operand));
        return grown(std::move(e));
    }

    // Whether `t` can begin an operand (`not` alone is the atom not).
    static bool starts_operand(const token& t) {
        static constexpr std::string_view openers[] = {"(", "{", "[", "#", "-", "+"};
        return t.kind == tok::literal || t.kind == tok::atom || t.kind == tok::variable ||
               (t.kind == tok::punct && spelled(t, openers));
    }

    expr primary(int depth) {
        const token& t = tokens_[i_];
        switch (t.kind) {
            case tok::literal: {
                ++i_;
                expr e = make(expr::kind::literal, t.where);
                e.value = t.value;
                return e;
            }
            case tok::variable: {
                ++i_;
                expr e = make(expr::kind::variable, t.where);
                e.name = std::string(t.text);
                return at_punct(":") ? remote_call(std::move(e), depth) : e;
            }
            case tok::atom: {
                ++i_;
                expr e = make(expr::kind::literal, t.where);
                e.value = t.value;
                if (at_punct(":")) return remote_call(std::move(e), depth);
                if (!at_punct("(")) return e;
                expr call = make(expr::kind::call, t.where);
                call.callee.push_back(std::move(e));
                arguments(call, depth);
                return grown(std::move(call));
            }
            case tok::punct: break;
            case tok::end: fail("an expression");
        }
        if (accept("(")) {
            expr e = expression(depth + 1);
            expect(")", "')'");
            return e;
        }
        if (accept("{")) {
            expr e = make(expr::kind::tuple, t.where);
            e.items = sequence("}", depth);
            return grown(std::move(e));
        }
        if (accept("[")) return list(t.where, depth);
        if (accept("#")) return map(t.where, depth);
        fail("an expression");
    }

    // Comma-separated expressions up to `close`, which is consumed (the opening is).
    std::vector<expr> sequence(std::string_view close, int depth) {
        std::vector<expr> items;
        if (accept(close)) return items;
        do {
            items.push_back(expression(depth + 1));
        } while (accept(","));
        expect(close, fmt::format("',' or '{}'", close));
        return items;
    }

    expr list(position where, int depth) {
        expr e = make(expr::kind::list, where);
        if (accept("]")) return e;
        e.items.push_back(expression(depth + 1));
        if (accept("||")) return comprehension(std::move(e), depth);
        while (accept(",")) e.items.push_back(expression(depth + 1));
        if (accept("|")) {
            e.items.push_back(expression(depth + 1));
            e.has_tail = true;
            expect("]", "']'");
        } else {
            expect("]", "',' or ']'");
        }
        return grown(std::move(e));
    }

    // [Template || Pattern <- List, Filter, ...], the template read.
    expr comprehension(expr list, int depth) {
        expr e = make(expr::kind::comprehension, list.where);
        e.items.push_back(std::move(list.items[0]));
        do {
            // Each qualifier is a level of the evaluator's recursion.
            if (e.items.size() > static_cast<std::size_t>(max_depth))
                fail_at(peek().where, fmt::format("a list comprehension of more than {} qualifiers", max_depth));
            expr q = expression(depth + 1);
            if (accept("<-")) {
                check_pattern(q);
                expr g = make(expr::kind::generator, q.where);
                g.items.push_back(std::move(q));
                g.items.push_back(expression(depth + 1));
                q = grown(std::move(g));
            }
            e.items.push_back(std::move(q));
        } while (accept(","));
        expect("]", "',' or ']'");
        return grown(std::move(e));
    }

    expr map(position where, int depth) {
        expect("{", "'{' after '#'");
        expr e = make(expr::kind::map, where);
        if (accept("}")) return e;
        do {
            e.items.push_back(expression(depth + 1));
            if (accept("=>")) e.exact.push_back(false);
            else if (accept(":=")) e.exact.push_back(true);
            else fail("'=>'");
            e.items.push_back(expression(depth + 1));
        } while (accept(","));
        expect("}", "',' or '}'");
        return grown(std::move(e));
    }

    // Module:Function(Args...), the module already read; either may be a variable.
    expr remote_call(expr module, int depth) {
        expect(":", "':'");
        const token& f = peek();
        if (f.kind != tok::atom && f.kind != tok::variable) fail("a function name");
        ++i_;
        expr function = make(f.kind == tok::atom ? expr::kind::literal : expr::kind::variable, f.where);
        if (f.kind == tok::atom) function.value = f.value;
        else function.name = std::string(f.text);
        expr call = make(expr::kind::call, module.where);
        call.callee.push_back(std::move(module));
        call.callee.push_back(std::move(function));
        arguments(call, depth);
        return grown(std::move(call));
    }

    void arguments(expr& call, int depth) {
        expect("(", "'('");
        call.items = sequence(")", depth);
    }

    // What may stand left of `=`: literals, variables, and tuples, lists and
    // maps of them (map keys literal).
    static void check_pattern(const expr& e) {
        switch (e.what) {
            case expr::kind::literal:
            case expr::kind::variable: return;
            case expr::kind::tuple:
            case expr::kind::list:
                for (const auto& x : e.items) check_pattern(x);
                return;
            case expr::kind::map:
                for (std::size_t i = 0; i < e.items.size(); i += 2) {
                    if (e.items[i].what != expr::kind::literal)
                        fail_at(e.items[i].where, "a map key in a pattern must be a literal");
                    check_pattern(e.items[i + 1]);
                }
                return;
            case expr::kind::match:  // an alias: {A, _} = P
                check_pattern(e.items[0]);
                check_pattern(e.items[1]);
                return;
            case expr::kind::call:
            case expr::kind::op:
            case expr::kind::comprehension:
            case expr::kind::generator: fail_at(e.where, "illegal pattern");
        }
    }

    // `:=` only matches; in an expression it is an error, as in Erlang.
    static void check_expression(const expr& e) {
        if (e.what == expr::kind::match || e.what == expr::kind::generator) return check_expression(e.items[1]);
        if (e.what == expr::kind::map)
            for (std::size_t i = 0; i < e.exact.size(); ++i)
                if (e.exact[i]) fail_at(e.items[2 * i].where, "only '=>' builds a map (':=' is for patterns)");
        for (const auto& x : e.items) check_expression(x);
        for (const auto& x : e.callee) check_expression(x);
    }

    std::vector<token> tokens_;
    std::size_t i_ = 0;
};

}  // namespace

statement parse_statement(std::string_view text) { return parser(lexer(text).tokens()).parse(); }

statements split_statements(std::string_view input) {
    statements out;
    std::string current;
    for (std::size_t i = 0; i < input.size(); ++i) {
        const char c = input[i];
        if (c == '"' || c == '\'') {
            // Copy the quoted text whole, escapes included.
            current += c;
            for (++i; i < input.size(); ++i) {
                current += input[i];
                if (input[i] == '\\' && i + 1 < input.size()) current += input[++i];
                else if (input[i] == c) break;
            }
        } else if (c == '$' && i + 1 < input.size()) {
            current += c;
            current += input[++i];
            if (input[i] == '\\' && i + 1 < input.size()) current += input[++i];
        } else if (c == '%') {
            while (i + 1 < input.size() && input[i + 1] != '\n') ++i;
        } else if (c == '.' && (i + 1 == input.size() || is_space(input[i + 1]) || input[i + 1] == '%')) {
            if (const auto t = trim(current); !t.empty()) out.ended.emplace_back(t);
            current.clear();
        } else {
            current += c;
        }
    }
    out.rest = trim(current);
    return out;
}

}  // namespace rotsh
