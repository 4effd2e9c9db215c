// The text form of terms: an Erlang-flavoured parser and printer.
//
// The parser is a small recursive-descent reader over the raw bytes. It treats
// its input as hostile, like the binary reader: nesting is limited to
// detail::max_term_depth so no input can exhaust the stack, and every error is
// a rot::error(parse_error) that says where (line:column) and what it wanted.
// The printer writes what Erlang's io_lib would, compactly, and what it writes
// always parses back to the same term.

#include <rot/error.hpp>
#include <rot/term.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <numeric>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "codec.hpp"
#include "utf8.hpp"

namespace rot {

namespace {

constexpr std::size_t max_atom_bytes = 255;

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }
bool is_atom_char(char c) noexcept {
    return is_lower(c) || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '@';
}

// Value of c as a digit in bases up to 36, or 36 when it is not one.
int digit_value(char c) noexcept {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return 36;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Erlang's reserved words: as atoms they must be quoted, or Erlang would read
// them as keywords.
bool is_reserved_word(std::string_view s) noexcept {
    static constexpr std::string_view words[] = {
        "after", "and",   "andalso", "band",    "begin", "bnot", "bor",  "bsl", "bsr",   "bxor",
        "case",  "catch", "cond",    "div",     "end",   "fun",  "if",   "let", "maybe", "not",
        "of",    "or",    "orelse",  "receive", "rem",   "try",  "when", "xor"};
    return std::find(std::begin(words), std::end(words), s) != std::end(words);
}

bool is_bare_atom(std::string_view s) noexcept {
    return !s.empty() && is_lower(s[0]) && std::all_of(s.begin(), s.end(), is_atom_char) &&
           !is_reserved_word(s);
}

// ---------------------------------------------------------------------------
// Parsing

class parser {
public:
    explicit parser(std::string_view text) : text_(text) {}

    term parse() {
        term t = parse_term(0);
        skip_space();
        if (!at_end()) fail("end of input");
        return t;
    }

private:
    [[nodiscard]] bool at_end() const noexcept { return pos_ >= text_.size(); }
    // '\0' past the end: callers look for other characters, so the end of
    // input matches nothing. (Between tokens a real NUL byte is never valid
    // either; inside quotes the end is checked before peeking.)
    [[nodiscard]] char peek(std::size_t ahead = 0) const noexcept {
        return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
    }
    [[nodiscard]] bool looking_at(std::string_view s) const noexcept {
        return text_.substr(pos_).starts_with(s);
    }

    void skip_space() {
        while (!at_end()) {
            const char c = peek();
            if (c == '%') {
                while (!at_end() && peek() != '\n') ++pos_;
            } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
                ++pos_;
            } else {
                return;
            }
        }
    }

    // "line:column: message", both 1-based; the column counts bytes.
    [[noreturn]] void fail_at(std::size_t pos, std::string_view message) const {
        pos = std::min(pos, text_.size());
        const auto before = text_.substr(0, pos);
        const auto line = 1 + std::count(before.begin(), before.end(), '\n');
        const auto line_start = before.rfind('\n');
        const auto column = pos - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1;
        throw error(errc::parse_error, fmt::format("{}:{}: {}", line, column, message));
    }

    [[nodiscard]] std::string describe_current() const {
        if (at_end()) return "end of input";
        const auto c = static_cast<unsigned char>(peek());
        if (c == '\'') return "\"'\"";
        if (c >= 0x20 && c < 0x7F) return fmt::format("'{}'", static_cast<char>(c));
        if (c == '\n') return "a newline";
        return fmt::format("byte 0x{:02X}", c);
    }

    // "expected <what> but found <whatever is at the current position>".
    [[noreturn]] void fail(std::string_view expected) const {
        fail_at(pos_, fmt::format("expected {} but found {}", expected, describe_current()));
    }

    term parse_term(int depth) {
        skip_space();
        const char c = peek();
        if (is_lower(c)) return term(atom(bare_atom()));
        if (c == '\'') return term(atom(quoted_atom()));
        if (at_number()) return number();
        if (c == '"') return term::make_string_unchecked(quoted_text('"', "string"));
        if (looking_at("<<")) return binary_literal();
        if (c == '[' || c == '{' || c == '#') return container(depth);
        fail("a term");
    }

    term container(int depth) {
        // A container opened here holds terms one level deeper; refusing it at
        // the limit bounds the recursion whatever the input.
        if (depth >= detail::max_term_depth)
            fail_at(pos_, fmt::format("terms nested deeper than {}", detail::max_term_depth));
        if (peek() == '[') {
            ++pos_;
            return term::make_list(sequence(']', depth + 1));
        }
        if (peek() == '{') {
            ++pos_;
            return term::make_tuple(sequence('}', depth + 1));
        }
        ++pos_;  // '#', which Erlang lets stand apart from its '{'
        skip_space();
        if (peek() != '{') fail("'{' after '#'");
        ++pos_;
        return map_entries(depth + 1);
    }

    // Comma-separated terms up to `close`, which is consumed.
    std::vector<term> sequence(char close, int depth) {
        std::vector<term> items;
        skip_space();
        if (peek() == close) {
            ++pos_;
            return items;
        }
        const auto separator = fmt::format("',' or '{}'", close);
        do {
            items.push_back(parse_term(depth));
        } while (!closed_after_separator(close, separator));
        return items;
    }

    // Consumes ',' (returning false) or `close` (returning true); anything
    // else fails with "expected <what>".
    bool closed_after_separator(char close, std::string_view what) {
        skip_space();
        if (peek() != ',' && peek() != close) fail(what);
        return text_[pos_++] == close;
    }

    term map_entries(int depth) {
        term::map_type entries;
        std::vector<std::size_t> key_positions;
        skip_space();
        if (peek() == '}') {
            ++pos_;
            return term::make_map({});
        }
        do {
            skip_space();
            key_positions.push_back(pos_);
            term key = parse_term(depth);
            skip_space();
            if (!looking_at("=>")) fail("'=>'");
            pos_ += 2;
            entries.emplace_back(std::move(key), parse_term(depth));
        } while (!closed_after_separator('}', "',' or '}'"));
        reject_duplicate_keys(entries, key_positions);
        return term::make_map(std::move(entries));
    }

    // Finds a repeated key (in n log n, so a huge map is no quadratic trap)
    // and reports it where it appears the second time.
    void reject_duplicate_keys(const term::map_type& entries,
                               const std::vector<std::size_t>& positions) const {
        std::vector<std::size_t> order(entries.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return entries[a].first < entries[b].first;
        });
        for (std::size_t i = 1; i < order.size(); ++i) {
            const auto& key = entries[order[i]].first;
            if (key == entries[order[i - 1]].first)
                fail_at(positions[order[i]], fmt::format("duplicate map key {}", to_string(key)));
        }
    }

    std::string bare_atom() {
        const std::size_t start = pos_;
        while (is_atom_char(peek())) ++pos_;
        check_atom_length(start, pos_ - start);
        return std::string(text_.substr(start, pos_ - start));
    }

    std::string quoted_atom() {
        const std::size_t start = pos_;
        std::string name = quoted_text('\'', "atom");
        check_atom_length(start, name.size());
        return name;
    }

    // The binary form has one byte for an atom's length.
    void check_atom_length(std::size_t start, std::size_t bytes) const {
        if (bytes > max_atom_bytes)
            fail_at(start, fmt::format("atom longer than {} bytes", max_atom_bytes));
    }

    // The text between `quote` characters with escapes resolved; it must be
    // valid UTF-8, as strings and atoms are.
    std::string quoted_text(char quote, std::string_view what) {
        const std::size_t start = pos_;
        ++pos_;
        std::string out;
        for (;;) {
            if (at_end()) fail_at(start, fmt::format("unterminated {}", what));
            const char c = peek();
            if (c == quote) {
                ++pos_;
                break;
            }
            if (c == '\\') {
                append_utf8(out, escape());
            } else {
                out += c;
                ++pos_;
            }
        }
        if (!detail::valid_utf8(out)) fail_at(start, fmt::format("{} is not valid UTF-8", what));
        return out;
    }

    // An escape sequence starting at the backslash; returns its code point.
    char32_t escape() {
        const std::size_t start = pos_;
        ++pos_;
        if (at_end()) fail("an escape sequence");
        const char c = peek();
        if (static_cast<unsigned char>(c) >= 0x80) fail("an ASCII character after '\\'");
        ++pos_;
        switch (c) {
            case 'n': return '\n';
            case 't': return '\t';
            case 'r': return '\r';
            case 's': return ' ';
            case 'b': return '\b';
            case 'f': return '\f';
            case 'v': return '\v';
            case 'e': return 0x1B;
            case 'd': return 0x7F;
            case 'x': return hex_escape(start);
            default: break;
        }
        if (c >= '0' && c <= '7') {
            // Octal, up to three digits, as in Erlang: \0 is NUL, \012 a newline.
            char32_t v = static_cast<char32_t>(c - '0');
            for (int i = 0; i < 2 && peek() >= '0' && peek() <= '7'; ++i, ++pos_)
                v = v * 8 + static_cast<char32_t>(peek() - '0');
            return v;
        }
        // Anything else stands for itself: \\ \' \" and friends.
        return static_cast<unsigned char>(c);
    }

    // \xHH (exactly two digits) or \x{H...}: a code point.
    char32_t hex_escape(std::size_t start) {
        const bool braced = peek() == '{';
        if (braced) ++pos_;
        char32_t cp = 0;
        int digits = 0;
        while (digit_value(peek()) < 16 && (braced || digits < 2)) {
            // Beyond 0x10FFFF it is invalid anyway; stop growing before it overflows.
            if (cp <= 0x10FFFF) cp = cp * 16 + static_cast<char32_t>(digit_value(peek()));
            ++digits;
            ++pos_;
        }
        if (digits == 0 || (!braced && digits < 2)) fail("a hexadecimal digit");
        if (braced) {
            if (peek() != '}') fail("a hexadecimal digit or '}'");
            ++pos_;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            fail_at(start, fmt::format("escape {} is not a Unicode code point",
                                       text_.substr(start, pos_ - start)));
        return cp;
    }

    // $c: the code point of a character (itself possibly an escape).
    std::int64_t char_literal() {
        const std::size_t start = pos_;
        ++pos_;
        if (at_end()) fail("a character after '$'");
        if (peek() == '\\') return escape();
        // One UTF-8 encoded character; its lead byte says how long it is.
        const auto lead = static_cast<unsigned char>(peek());
        const std::size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        const auto ch = text_.substr(pos_, len);
        if (ch.size() != len || !detail::valid_utf8(ch))
            fail_at(start, "character after '$' is not valid UTF-8");
        pos_ += len;
        char32_t cp = len == 1 ? lead : lead & (0x7F >> len);
        for (std::size_t i = 1; i < len; ++i)
            cp = (cp << 6) | (static_cast<unsigned char>(ch[i]) & 0x3F);
        return cp;
    }

    [[nodiscard]] bool at_number() const noexcept {
        const char c = peek();
        return is_digit(c) || c == '$' || ((c == '-' || c == '+') && is_digit(peek(1)));
    }

    // Integers (decimal, Base#Digits, $c) and floats; all but $c take a sign.
    term number() {
        if (peek() == '$') return term(char_literal());
        const std::size_t start = pos_;
        const bool negative = peek() == '-';
        if (peek() == '-' || peek() == '+') ++pos_;
        const std::size_t digits_start = pos_;
        while (is_digit(peek())) ++pos_;
        if (peek() == '.' && is_digit(peek(1))) return float_rest(start);
        if (peek() == '#') return term(based_integer(start, negative, digits_start));
        return term(apply_sign(start, negative, magnitude(start, digits_start, pos_, 10)));
    }

    // The unsigned value of text_[from, to) in `base`, failing past UINT64_MAX.
    std::uint64_t magnitude(std::size_t start, std::size_t from, std::size_t to,
                            unsigned base) const {
        std::uint64_t v = 0;
        for (std::size_t i = from; i < to; ++i) {
            const auto d = static_cast<unsigned>(digit_value(text_[i]));
            if (v > (UINT64_MAX - d) / base) out_of_range(start);
            v = v * base + d;
        }
        return v;
    }

    std::int64_t apply_sign(std::size_t start, bool negative, std::uint64_t v) const {
        constexpr auto limit = static_cast<std::uint64_t>(INT64_MAX);
        if (negative) {
            if (v > limit + 1) out_of_range(start);
            return static_cast<std::int64_t>(0 - v);  // two's complement; -2^63 included
        }
        if (v > limit) out_of_range(start);
        return static_cast<std::int64_t>(v);
    }

    [[noreturn]] void out_of_range(std::size_t start) const {
        fail_at(start, "integer out of range (64-bit signed)");
    }

    std::int64_t based_integer(std::size_t start, bool negative, std::size_t base_start) {
        const auto base_text = text_.substr(base_start, pos_ - base_start);
        unsigned base = 0;
        const auto [_, ec] =
            std::from_chars(base_text.data(), base_text.data() + base_text.size(), base);
        if (ec != std::errc() || base < 2 || base > 36)
            fail_at(base_start, fmt::format("base {} is not in 2..36", base_text));
        ++pos_;  // '#'
        const std::size_t digits_start = pos_;
        while (static_cast<unsigned>(digit_value(peek())) < base) ++pos_;
        if (pos_ == digits_start) fail(fmt::format("a base {} digit", base));
        return apply_sign(start, negative, magnitude(start, digits_start, pos_, base));
    }

    // Digits '.' digits [e [sign] digits]: the integer part has been read.
    term float_rest(std::size_t start) {
        ++pos_;  // '.'
        while (is_digit(peek())) ++pos_;
        if (peek() == 'e' || peek() == 'E') {
            ++pos_;
            if (peek() == '-' || peek() == '+') ++pos_;
            if (!is_digit(peek())) fail("a digit in the exponent");
            while (is_digit(peek())) ++pos_;
        }
        // from_chars takes no '+'; the sign does not change the range check.
        std::size_t from = start;
        if (text_[from] == '+') ++from;
        double d = 0;
        const auto [end, ec] = std::from_chars(text_.data() + from, text_.data() + pos_, d);
        if (ec != std::errc() || end != text_.data() + pos_)
            fail_at(start, "float out of range");
        return term(d);
    }

    term binary_literal() {
        pos_ += 2;  // "<<"
        std::vector<std::uint8_t> out;
        skip_space();
        if (looking_at(">>")) {
            pos_ += 2;
            return term(binary(std::move(out)));
        }
        for (;;) {
            skip_space();
            if (peek() == '"') {
                const std::string s = quoted_text('"', "string");
                out.insert(out.end(), s.begin(), s.end());
            } else if (at_number()) {
                const std::size_t start = pos_;
                const term v = number();
                if (!v.is_int() || v.as_int() < 0 || v.as_int() > 255)
                    fail_at(start, fmt::format("binary element {} is not an integer in 0..255",
                                               to_string(v)));
                out.push_back(static_cast<std::uint8_t>(v.as_int()));
            } else {
                fail("an integer or a string in a binary");
            }
            skip_space();
            if (looking_at(">>")) {
                pos_ += 2;
                return term(binary(std::move(out)));
            }
            if (peek() != ',') fail("',' or '>>'");
            ++pos_;
        }
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// Printing

class printer {
public:
    explicit printer(std::string& out) : out_(out) {}

    void print(const term& t) {
        switch (t.type()) {
            case kind::integer: fmt::format_to(std::back_inserter(out_), "{}", t.as_int()); break;
            case kind::floating: print_float(t.as_float()); break;
            case kind::atom: print_atom(t.atom_name()); break;
            case kind::string: print_quoted(t.as_string(), '"'); break;
            case kind::binary: print_binary(t.as_binary()); break;
            case kind::list: print_sequence(t.as_list(), '[', ']'); break;
            case kind::tuple: print_sequence(t.as_tuple(), '{', '}'); break;
            case kind::map: print_map(t.as_map()); break;
        }
    }

private:
    void print_sequence(const std::vector<term>& items, char open, char close) {
        out_ += open;
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i > 0) out_ += ',';
            print(items[i]);
        }
        out_ += close;
    }

    // As Erlang prints maps: spaces around "=>" but none after the commas.
    void print_map(const term::map_type& entries) {
        out_ += "#{";
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (i > 0) out_ += ',';
            print(entries[i].first);
            out_ += " => ";
            print(entries[i].second);
        }
        out_ += '}';
    }

    // fmt's shortest round-tripping form ("1", "1e+100", "1.5e-07") made
    // Erlang-readable: Erlang wants digits '.' digits before any exponent.
    void print_float(double d) {
        const std::string s = fmt::format("{}", d);
        const auto e = s.find('e');
        const std::string_view mantissa = std::string_view(s).substr(0, e);
        out_ += mantissa;
        if (mantissa.find('.') == std::string_view::npos) out_ += ".0";
        if (e == std::string::npos) return;
        out_ += 'e';
        std::string_view exponent = std::string_view(s).substr(e + 1);
        if (exponent.front() == '-') {
            out_ += '-';
            exponent.remove_prefix(1);
        } else if (exponent.front() == '+') {
            exponent.remove_prefix(1);
        }
        while (exponent.size() > 1 && exponent.front() == '0') exponent.remove_prefix(1);
        out_ += exponent;
    }

    void print_atom(std::string_view name) {
        if (is_bare_atom(name))
            out_ += name;
        else
            print_quoted(name, '\'');
    }

    void print_binary(const binary& b) {
        const auto is_printable = [](std::uint8_t c) { return c >= 0x20 && c < 0x7F; };
        const bool printable = !b.empty() && std::all_of(b.begin(), b.end(), is_printable);
        out_ += "<<";
        if (printable) {
            print_quoted(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), '"');
        } else {
            for (std::size_t i = 0; i < b.size(); ++i) {
                if (i > 0) out_ += ',';
                fmt::format_to(std::back_inserter(out_), "{}", b[i]);
            }
        }
        out_ += ">>";
    }

    // Escapes what the parser would not read back as itself; bytes >= 0x80
    // (UTF-8) pass through unchanged.
    void print_quoted(std::string_view s, char quote) {
        out_ += quote;
        for (const char c : s) {
            const auto b = static_cast<unsigned char>(c);
            if (c == quote || c == '\\') {
                out_ += '\\';
                out_ += c;
            } else if (c == '\n') {
                out_ += "\\n";
            } else if (c == '\t') {
                out_ += "\\t";
            } else if (c == '\r') {
                out_ += "\\r";
            } else if (b < 0x20 || b == 0x7F) {
                // Exactly two hex digits, so a digit that follows stays literal.
                fmt::format_to(std::back_inserter(out_), "\\x{:02X}", b);
            } else {
                out_ += c;
            }
        }
        out_ += quote;
    }

    std::string& out_;
};

}  // namespace

term parse_term(std::string_view text) { return parser(text).parse(); }

std::string to_string(const term& t) {
    std::string out;
    printer(out).print(t);
    return out;
}

}  // namespace rot
