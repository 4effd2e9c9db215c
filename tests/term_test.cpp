// Tests of rot::term: construction, access, ordering, the text form and the
// binary form (including hostile input).

#include <rot/error.hpp>
#include <rot/term.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

using rot::atom;
using rot::binary;
using bytes = std::vector<std::uint8_t>;  // a buffer to build encodings in
using rot::errc;
using rot::kind;
using rot::term;

namespace {

// ---------------------------------------------------------------------------
// Helpers

// The message of the rot::error that parse_term(text) throws; fails the test
// if it throws nothing or anything else.
std::string parse_error(std::string_view text) {
    try {
        const term t = rot::parse_term(text);
        FAIL_CHECK("parsed without error: ", std::string(text), " -> ", rot::to_string(t));
    } catch (const rot::error& e) {
        CHECK(e.code() == errc::parse_error);
        return e.message();
    }
    return {};
}

// The message of the rot::error that from_binary(bytes) throws (protocol_error).
std::string decode_error(const bytes& bytes) {
    try {
        const term t = rot::from_binary(bytes);
        FAIL_CHECK("decoded without error: ", rot::to_string(t));
    } catch (const rot::error& e) {
        CHECK(e.code() == errc::protocol_error);
        return e.message();
    }
    return {};
}

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

std::string repeat(std::string_view s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

// Deterministic pseudo-random numbers (splitmix64): the same terms every run.
class rng {
public:
    explicit rng(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    /// Uniform in [0, n).
    std::uint64_t below(std::uint64_t n) { return next() % n; }
    bool chance(int percent) { return below(100) < static_cast<std::uint64_t>(percent); }

private:
    std::uint64_t state_;
};

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

// Random terms of every kind, biased towards the awkward cases: extreme
// numbers, reserved words, escapes, control characters, non-ASCII text.
class term_generator {
public:
    explicit term_generator(std::uint64_t seed) : rng_(seed) {}

    term any(int depth = 0) {
        const auto pick = rng_.below(depth >= 4 ? 5 : 8);
        switch (pick) {
            case 0: return integer();
            case 1: return floating();
            case 2: return term(atom(atom_name()));
            case 3: return term(text());
            case 4: return term(make_bytes());
            case 5: return term::make_list(items(depth));
            case 6: return term::make_tuple(items(depth));
            default: return map(depth);
        }
    }

private:
    term integer() {
        static constexpr std::int64_t special[] = {0,       1,       -1,         255,       256, 9007199254740993,
                                                   INT64_MAX, INT64_MIN, INT64_MIN + 1, -9007199254740993};
        switch (rng_.below(3)) {
            case 0: return term(special[rng_.below(std::size(special))]);
            case 1: return term(static_cast<std::int64_t>(rng_.below(2001)) - 1000);
            default: return term(static_cast<std::int64_t>(rng_.next()));
        }
    }

    term floating() {
        static constexpr double special[] = {0.0,  -0.0,   1.0,     -1.0,   0.1,     1e100,  1e-100, 5e-324,
                                             1e16, 1e15,   1.5e-7,  2.5,    1e21,    -1e22,  123456789012345680.0,
                                             std::numeric_limits<double>::max(), std::numeric_limits<double>::min(),
                                             9007199254740992.0};
        switch (rng_.below(3)) {
            case 0: return term(special[rng_.below(std::size(special))]);
            case 1: return term(static_cast<double>(static_cast<std::int64_t>(rng_.below(20001)) - 10000) / 64.0);
            default:
                for (;;) {
                    const double d = std::bit_cast<double>(rng_.next());
                    if (std::isfinite(d)) return term(d);
                }
        }
    }

    std::string atom_name() {
        static constexpr const char* special[] = {"ok", "error", "true", "false", "undefined", "after", "end",
                                                  "receive", "xor", "", "Caps", "_under", "a b", "it's",
                                                  "back\\slash", "with@at", "a1_B@", "\n", "é"};
        if (rng_.chance(40)) return special[rng_.below(std::size(special))];
        std::string s;
        const auto n = rng_.below(12);
        if (rng_.chance(70)) {
            // Mostly bare-looking names.
            s += static_cast<char>('a' + rng_.below(26));
            static constexpr std::string_view tail = "abcxyzABZ019_@";
            for (std::uint64_t i = 0; i < n; ++i) s += tail[rng_.below(tail.size())];
        } else {
            while (s.size() < n) append_utf8(s, code_point());
            if (s.size() > 255) s.resize(0);
        }
        return s;
    }

    char32_t code_point() {
        switch (rng_.below(6)) {
            case 0: return static_cast<char32_t>(rng_.below(0x20));  // control characters
            case 1: {
                static constexpr std::string_view tricky = "\"'\\%$#<>{}[],.=\x7F";
                return static_cast<unsigned char>(tricky[rng_.below(tricky.size())]);
            }
            case 2: return static_cast<char32_t>(0x80 + rng_.below(0x780));
            case 3: {
                const auto cp = static_cast<char32_t>(0x800 + rng_.below(0x10000 - 0x800));
                return cp >= 0xD800 && cp <= 0xDFFF ? U'ø' : cp;
            }
            case 4: return static_cast<char32_t>(0x10000 + rng_.below(0x100000));
            default: return static_cast<char32_t>(0x20 + rng_.below(0x5F));
        }
    }

    std::string text() {
        std::string s;
        const auto n = rng_.below(rng_.chance(10) ? 200 : 12);
        for (std::uint64_t i = 0; i < n; ++i) append_utf8(s, code_point());
        return s;
    }

    bytes make_bytes() {
        bytes b(rng_.below(rng_.chance(10) ? 100 : 10));
        const bool printable = rng_.chance(50);
        for (auto& x : b)
            x = static_cast<std::uint8_t>(printable ? 0x20 + rng_.below(0x5F) : rng_.below(256));
        return b;
    }

    std::vector<term> items(int depth) {
        std::vector<term> xs(rng_.below(6));
        for (auto& x : xs) x = any(depth + 1);
        return xs;
    }

    term map(int depth) {
        term::map_type entries;
        const auto n = rng_.below(6);
        for (std::uint64_t i = 0; i < n; ++i) {
            term k = any(depth + 1);
            bool duplicate = false;
            for (const auto& e : entries) duplicate = duplicate || e.first == k;
            if (!duplicate) entries.emplace_back(std::move(k), any(depth + 1));
        }
        return term::make_map(std::move(entries));
    }

    rng rng_;
};

// n nested lists around `inner`, as text and as a term.
std::string nested_text(int n, std::string_view inner = "") {
    return repeat("[", n) + std::string(inner) + repeat("]", n);
}
term nested_term(int n, term inner) {
    for (int i = 0; i < n; ++i) inner = term::make_list({std::move(inner)});
    return inner;
}
term nested_empty(int n) {
    term t = term::make_list({});
    return n <= 1 ? t : nested_term(n - 1, std::move(t));
}

}  // namespace

// ===========================================================================
// Construction and access

TEST_CASE("term: default is undefined, booleans are atoms") {
    const term u;
    CHECK(u.is_atom());
    CHECK(u.is_undefined());
    CHECK(u.atom_name() == "undefined");
    CHECK(term(true).is_atom("true"));
    CHECK(term(false).is_atom("false"));
    CHECK(term(atom("ok")) == rot::parse_term("ok"));
    CHECK(term(atom("ok")).type() == kind::atom);
}

TEST_CASE("term: integers") {
    CHECK(term(42).as_int() == 42);
    CHECK(term(-7L).as_int() == -7);
    CHECK(term(static_cast<std::uint8_t>(200)).as_int() == 200);
    CHECK(term(INT64_MIN).as_int() == INT64_MIN);
    CHECK(term(static_cast<std::uint64_t>(INT64_MAX)).as_int() == INT64_MAX);
    CHECK_THROWS_AS((void)term(static_cast<std::uint64_t>(INT64_MAX) + 1), std::out_of_range);
    CHECK(term(5).is_int());
    CHECK(term(5).is_number());
    CHECK_FALSE(term(5).is_float());
    CHECK(term(5).type() == kind::integer);
}

TEST_CASE("term: floats must be finite") {
    CHECK(term(2.5).as_float() == 2.5);
    CHECK(term(2.5f).as_float() == 2.5);
    CHECK(term(2.5).is_float());
    CHECK(term(2.5).type() == kind::floating);
    CHECK(term(3).as_float() == 3.0);  // integers convert
    CHECK_THROWS_AS((void)term(std::nan("")), std::domain_error);
    CHECK_THROWS_AS((void)term(std::numeric_limits<double>::infinity()), std::domain_error);
    CHECK_THROWS_AS((void)term(-std::numeric_limits<double>::infinity()), std::domain_error);
}

TEST_CASE("term: strings must be UTF-8, binaries are bytes") {
    CHECK(term("héllo").as_string() == "héllo");
    CHECK(term(std::string_view("x")).is_string());
    CHECK(term(std::string("")).as_string().empty());
    CHECK_THROWS_AS((void)term(std::string("\xff")), std::invalid_argument);
    CHECK_THROWS_AS((void)term(std::string("\xc0\x80")), std::invalid_argument);      // overlong NUL
    CHECK_THROWS_AS((void)term(std::string("\xed\xa0\x80")), std::invalid_argument);  // surrogate
    CHECK_THROWS_AS((void)term(std::string("\xf4\x90\x80\x80")), std::invalid_argument);  // > U+10FFFF
    CHECK_THROWS_AS((void)term(std::string("abc\xe2\x82")), std::invalid_argument);   // truncated
    CHECK(term(std::string("\xf4\x8f\xbf\xbf")).is_string());  // U+10FFFF
    CHECK(term(binary{0, 255}).as_binary() == binary{0, 255});
    CHECK(term(binary{}).is_binary());
    CHECK(term::make_string_unchecked("abc").as_string() == "abc");
}

TEST_CASE("term: composites") {
    const term l = rot::list(1, "a", atom("b"));
    REQUIRE(l.is_list());
    REQUIRE(l.as_list().size() == 3);
    CHECK(l.as_list()[0] == term(1));
    CHECK(l.as_list()[1] == term("a"));
    CHECK(l.as_list()[2].is_atom("b"));

    term t = rot::tuple(atom("ok"), 3);
    REQUIRE(t.is_tuple());
    CHECK(t.as_tuple().size() == 2);
    t.as_tuple()[1] = term(4);
    CHECK(t == rot::parse_term("{ok, 4}"));

    term l2 = rot::list();
    l2.as_list().push_back(term(1));
    CHECK(l2 == rot::parse_term("[1]"));

    const term m = rot::map({{atom("b"), 2}, {atom("a"), 1}});
    REQUIRE(m.is_map());
    REQUIRE(m.as_map().size() == 2);
    CHECK(m.as_map()[0].first.is_atom("a"));  // sorted by key
    CHECK(m.as_map()[1].first.is_atom("b"));
    REQUIRE(m.find(term(atom("b"))) != nullptr);
    CHECK(*m.find(term(atom("b"))) == term(2));
    CHECK(m.find(term(atom("c"))) == nullptr);
    CHECK(m.find(term("b")) == nullptr);      // a string is not the atom
    CHECK(term(1).find(term(1)) == nullptr);  // not a map
}

TEST_CASE("term: accessors of the wrong kind throw badarg naming what was expected") {
    const auto message = [](auto&& f) -> std::string {
        try {
            f();
        } catch (const rot::error& e) {
            CHECK(e.code() == errc::badarg);
            return e.message();
        }
        FAIL_CHECK("no error");
        return {};
    };
    CHECK(message([] { (void)term(atom("foo")).as_int(); }) == "expected integer, got atom foo");
    CHECK(message([] { (void)term(1).atom_name(); }) == "expected atom, got integer 1");
    CHECK(message([] { (void)term("s").as_float(); }) == "expected float, got string \"s\"");
    CHECK(message([] { (void)term(1.5).as_string(); }) == "expected string, got float 1.5");
    CHECK(message([] { (void)term("s").as_binary(); }) == "expected binary, got string \"s\"");
    CHECK(message([] { (void)rot::tuple().as_list(); }) == "expected list, got tuple {}");
    CHECK(message([] { (void)rot::list().as_tuple(); }) == "expected tuple, got list []");
    CHECK(message([] { (void)rot::list().as_map(); }) == "expected map, got list []");
    CHECK(message([] {
              term t;
              (void)t.as_list();
          }) == "expected list, got atom undefined");
    // Long terms are shortened in the message.
    const std::string long_message = message([] { (void)term(std::string(500, 'x')).as_int(); });
    CHECK(long_message.size() < 100);
    CHECK(contains(long_message, "..."));
}

TEST_CASE("term: kind names") {
    CHECK(term::kind_name(kind::integer) == "integer");
    CHECK(term::kind_name(kind::floating) == "float");
    CHECK(term::kind_name(kind::atom) == "atom");
    CHECK(term::kind_name(kind::tuple) == "tuple");
    CHECK(term::kind_name(kind::map) == "map");
    CHECK(term::kind_name(kind::list) == "list");
    CHECK(term::kind_name(kind::string) == "string");
    CHECK(term::kind_name(kind::binary) == "binary");
}

// ===========================================================================
// Ordering and equality

TEST_CASE("order: integers and floats are distinct but compare by value") {
    CHECK(term(1) != term(1.0));
    CHECK(term(1) < term(1.0));  // equal value: the integer first
    CHECK(term(1.0) < term(2));
    CHECK(term(1) < term(1.5));
    CHECK(term(1.5) < term(2));
    CHECK(term(-3) < term(-2.5));
    CHECK(term(1.0) == term(1.0));
    CHECK((term(1) <=> term(1)) == std::strong_ordering::equal);
    CHECK((term(2) <=> term(1.0)) == std::strong_ordering::greater);
    // Integers beyond 2^53 are compared exactly, not through a double.
    CHECK(term(9007199254740993) > term(9007199254740992.0));
    CHECK(term(9007199254740992) < term(9007199254740992.0));
    CHECK(term(INT64_MAX) < term(9223372036854775808.0));
    CHECK(term(INT64_MIN) < term(-9223372036854775808.0));
}

TEST_CASE("order: kinds compare number < atom < tuple < map < list < string < binary") {
    const std::vector<term> ascending = {
        term(-1e300), term(INT64_MIN), term(0), term(0.5), term(1e300),
        term(atom("")), term(atom("a")), term(atom("b")),
        rot::tuple(), rot::tuple(9), rot::tuple(1, 1),
        rot::map({}), rot::map({{1, 9}}), rot::map({{2, 0}}), rot::map({{1, 1}, {2, 2}}),
        rot::list(), rot::list(1), rot::list(1, 1), rot::list(2),
        term(""), term("a"), term("b"),
        term(binary{}), term(binary{0}), term(binary{1}),
    };
    for (std::size_t i = 0; i < ascending.size(); ++i) {
        for (std::size_t j = 0; j < ascending.size(); ++j) {
            INFO(rot::to_string(ascending[i]), " vs ", rot::to_string(ascending[j]));
            CHECK((ascending[i] < ascending[j]) == (i < j));
            CHECK((ascending[i] == ascending[j]) == (i == j));
        }
    }
}

TEST_CASE("order: tuples by size first, maps by size, keys, then values") {
    CHECK(rot::tuple(9, 9) > rot::tuple(1, 1));
    CHECK(rot::tuple(9) < rot::tuple(1, 1));
    CHECK(rot::map({{1, 100}}) < rot::map({{1, 1}, {2, 2}}));
    CHECK(rot::map({{1, 100}}) < rot::map({{2, 0}}));
    CHECK(rot::map({{1, 1}}) < rot::map({{1, 2}}));
}

TEST_CASE("map: keys are sorted, duplicates rejected") {
    const term m = rot::map({{"z", 1}, {atom("a"), 2}, {3, 3}, {1.0, 4}, {1, 5}});
    const auto& e = m.as_map();
    REQUIRE(e.size() == 5);
    CHECK(e[0].first == term(1));
    CHECK(e[1].first == term(1.0));
    CHECK(e[2].first == term(3));
    CHECK(e[3].first == term(atom("a")));
    CHECK(e[4].first == term("z"));
    CHECK(rot::to_string(m) == "#{1 => 5,1.0 => 4,3 => 3,a => 2,\"z\" => 1}");
    // Construction order does not matter.
    CHECK(rot::map({{1, 1}, {2, 2}}) == rot::map({{2, 2}, {1, 1}}));

    try {
        (void)rot::map({{atom("k"), 1}, {2, 2}, {atom("k"), 3}});
        FAIL("duplicate key accepted");
    } catch (const std::invalid_argument& ex) {
        CHECK(contains(ex.what(), "duplicate map key k"));
    }
    // 1 and 1.0 are different keys.
    CHECK(rot::map({{1, 1}, {1.0, 2}}).as_map().size() == 2);
}

TEST_CASE("fmt prints the text form") {
    const term t = rot::tuple(atom("math"), atom("add"),
                              rot::list(1, 2.5, "x", binary{1, 2}, rot::map({{atom("a"), 1}})));
    CHECK(rot::to_string(t) == "{math,add,[1,2.5,\"x\",<<1,2>>,#{a => 1}]}");
    CHECK(fmt::format("{}", t) == rot::to_string(t));
    CHECK(fmt::format("[{:>6}]", term(1)) == "[     1]");
}

// ===========================================================================
// Text form: parsing every syntax element

TEST_CASE("text: atoms") {
    CHECK(rot::parse_term("ok") == term(atom("ok")));
    CHECK(rot::parse_term("aB9_@x") == term(atom("aB9_@x")));
    CHECK(rot::parse_term("true") == term(true));
    CHECK(rot::parse_term("false") == term(false));
    CHECK(rot::parse_term("undefined").is_undefined());
    CHECK(rot::parse_term("'Any atom'") == term(atom("Any atom")));
    CHECK(rot::parse_term("''") == term(atom("")));
    CHECK(rot::parse_term(R"('it\'s \\ \n\t\r')") == term(atom("it's \\ \n\t\r")));
    CHECK(rot::parse_term(R"('\x41\x{42}\x{e9}')") == term(atom("ABé")));
    CHECK(rot::parse_term("'é'") == term(atom("é")));
    // Reserved words are read as atoms, though they print quoted.
    CHECK(rot::parse_term("after") == term(atom("after")));
    CHECK(rot::parse_term("'after'") == term(atom("after")));

    const std::string longest(255, 'a');
    CHECK(rot::parse_term(longest).atom_name() == longest);
    CHECK(rot::parse_term("'" + longest + "'").atom_name() == longest);
    CHECK(parse_error(longest + "a") == "1:1: atom longer than 255 bytes");
    CHECK(parse_error("[x, '" + longest + "b']") == "1:5: atom longer than 255 bytes");
    // The limit counts bytes after escapes: 128 two-byte characters are 256 bytes.
    CHECK(parse_error("'" + repeat("\\x{e9}", 128) + "'") == "1:1: atom longer than 255 bytes");
    CHECK(rot::parse_term("'" + repeat("\\x{e9}", 127) + "'").atom_name().size() == 254);
}

TEST_CASE("text: integers") {
    CHECK(rot::parse_term("0") == term(0));
    CHECK(rot::parse_term("42") == term(42));
    CHECK(rot::parse_term("-42") == term(-42));
    CHECK(rot::parse_term("+42") == term(42));
    CHECK(rot::parse_term("007") == term(7));
    CHECK(rot::parse_term("9223372036854775807") == term(INT64_MAX));
    CHECK(rot::parse_term("-9223372036854775808") == term(INT64_MIN));
    CHECK(rot::parse_term("16#ff") == term(255));
    CHECK(rot::parse_term("16#FF") == term(255));
    CHECK(rot::parse_term("-16#ff") == term(-255));
    CHECK(rot::parse_term("2#1010") == term(10));
    CHECK(rot::parse_term("36#zz") == term(36 * 36 - 1));
    CHECK(rot::parse_term("8#777") == term(511));
    CHECK(rot::parse_term("16#7fffffffffffffff") == term(INT64_MAX));
    CHECK(rot::parse_term("-16#8000000000000000") == term(INT64_MIN));
    CHECK(rot::parse_term("$a") == term(97));
    CHECK(rot::parse_term("$\\n") == term(10));
    CHECK(rot::parse_term("$\\\\") == term(92));
    CHECK(rot::parse_term("$ ") == term(32));
    CHECK(rot::parse_term("$é") == term(0xE9));
    CHECK(rot::parse_term("$😀") == term(0x1F600));
    CHECK(rot::parse_term("$\\x{1F600}") == term(0x1F600));
    CHECK(rot::parse_term("[$a,$b]") == rot::list(97, 98));
}

TEST_CASE("text: integers out of range are errors, not wrapped") {
    CHECK(parse_error("9223372036854775808") == "1:1: integer out of range (64-bit signed)");
    CHECK(parse_error("-9223372036854775809") == "1:1: integer out of range (64-bit signed)");
    CHECK(parse_error("18446744073709551616") == "1:1: integer out of range (64-bit signed)");
    CHECK(parse_error("[1, " + std::string(5000, '9') + "]") == "1:5: integer out of range (64-bit signed)");
    CHECK(parse_error("16#8000000000000000") == "1:1: integer out of range (64-bit signed)");
    CHECK(parse_error("16#" + std::string(100, 'f')) == "1:1: integer out of range (64-bit signed)");
    CHECK(parse_error("37#1") == "1:1: base 37 is not in 2..36");
    CHECK(parse_error("1#1") == "1:1: base 1 is not in 2..36");
    CHECK(parse_error("99999999999999999999999#1") == "1:1: base 99999999999999999999999 is not in 2..36");
    CHECK(parse_error("16#") == "1:4: expected a base 16 digit but found end of input");
    CHECK(parse_error("2#2") == "1:3: expected a base 2 digit but found '2'");
    CHECK(parse_error("$") == "1:2: expected a character after '$' but found end of input");
    CHECK(parse_error("$\xff") == "1:1: character after '$' is not valid UTF-8");
    CHECK(parse_error("$\xc3") == "1:1: character after '$' is not valid UTF-8");
}

TEST_CASE("text: floats") {
    CHECK(rot::parse_term("1.5") == term(1.5));
    CHECK(rot::parse_term("-0.25") == term(-0.25));
    CHECK(rot::parse_term("+0.25") == term(0.25));
    CHECK(rot::parse_term("1.0e10") == term(1e10));
    CHECK(rot::parse_term("2.5E-3") == term(2.5e-3));
    CHECK(rot::parse_term("2.5e+3") == term(2500.0));
    CHECK(rot::parse_term("0.1") == term(0.1));
    CHECK(rot::parse_term("1.0").is_float());
    CHECK(std::signbit(rot::parse_term("-0.0").as_float()));
    CHECK(rot::parse_term("4.9e-324") == term(5e-324));
    CHECK(rot::parse_term("1.7976931348623157e308") == term(std::numeric_limits<double>::max()));
    CHECK(parse_error("1.0e400") == "1:1: float out of range");
    CHECK(parse_error("-1.0e400") == "1:1: float out of range");
    CHECK(parse_error("1.0e-400") == "1:1: float out of range");
    // Like Erlang: digits on both sides of the dot, and no exponent without a dot.
    CHECK(parse_error("1.") == "1:2: expected end of input but found '.'");
    CHECK(parse_error(".5") == "1:1: expected a term but found '.'");
    CHECK(parse_error("1e10") == "1:2: expected end of input but found 'e'");
    CHECK(parse_error("1.0e") == "1:5: expected a digit in the exponent but found end of input");
    CHECK(parse_error("1.0e+x") == "1:6: expected a digit in the exponent but found 'x'");
}

TEST_CASE("text: strings") {
    CHECK(rot::parse_term("\"\"") == term(""));
    CHECK(rot::parse_term("\"hello\"") == term("hello"));
    CHECK(rot::parse_term(R"("q\"b\\n\nt\tr\rz\0")") == term(std::string("q\"b\\n\nt\tr\rz\0", 12)));
    CHECK(rot::parse_term(R"("\x41\x7e")") == term("A~"));
    CHECK(rot::parse_term(R"("\x{e9}\x{20AC}\x{1F600}")") == term("é€😀"));
    CHECK(rot::parse_term(R"("\x{10FFFF}")") == term("\xf4\x8f\xbf\xbf"));
    CHECK(rot::parse_term(R"("\012\s\'")") == term("\n '"));  // Erlang's octal and \s
    CHECK(rot::parse_term(R"("\x001")") == term(std::string("\0" "1", 2)));  // \xHH takes two digits
    CHECK(rot::parse_term("\"héllo 😀\"") == term("héllo 😀"));
    CHECK(rot::parse_term("\"multi\nline\"") == term("multi\nline"));
    CHECK(rot::parse_term("\"100%\"") == term("100%"));  // not a comment inside a string
}

TEST_CASE("text: bad strings and escapes") {
    CHECK(parse_error("\"abc") == "1:1: unterminated string");
    CHECK(parse_error("'abc") == "1:1: unterminated atom");
    CHECK(parse_error("[\"a\\") == "1:5: expected an escape sequence but found end of input");
    CHECK(parse_error(R"("\x{D800}")") == "1:2: escape \\x{D800} is not a Unicode code point");
    CHECK(parse_error(R"("\x{110000}")") == "1:2: escape \\x{110000} is not a Unicode code point");
    CHECK(parse_error(R"("\x{FFFFFFFFFFFFFFFFFFFF}")") ==
          "1:2: escape \\x{FFFFFFFFFFFFFFFFFFFF} is not a Unicode code point");
    CHECK(parse_error(R"("\x4")") == "1:5: expected a hexadecimal digit but found '\"'");
    CHECK(parse_error(R"("\xg0")") == "1:4: expected a hexadecimal digit but found 'g'");
    CHECK(parse_error(R"("\x{}")") == "1:5: expected a hexadecimal digit but found '}'");
    CHECK(parse_error(R"("\x{41")") == "1:7: expected a hexadecimal digit or '}' but found '\"'");
    CHECK(parse_error("\"\\\xc3\xa9\"") == "1:3: expected an ASCII character after '\\' but found byte 0xC3");
    // Raw bytes must be valid UTF-8, in strings and quoted atoms alike.
    CHECK(parse_error("\"ab\xff\"") == "1:1: string is not valid UTF-8");
    CHECK(parse_error("[1, \"\xc0\x80\"]") == "1:5: string is not valid UTF-8");
    CHECK(parse_error("\"\xed\xa0\x80\"") == "1:1: string is not valid UTF-8");
    CHECK(parse_error("'\xfe'") == "1:1: atom is not valid UTF-8");
    CHECK(parse_error("<<\"\xff\">>") == "1:3: string is not valid UTF-8");
}

TEST_CASE("text: binaries") {
    CHECK(rot::parse_term("<<>>") == term(binary{}));
    CHECK(rot::parse_term("<< >>") == term(binary{}));
    CHECK(rot::parse_term("<<1,2,255>>") == term(binary{1, 2, 255}));
    CHECK(rot::parse_term("<< 1 , 2 >>") == term(binary{1, 2}));
    CHECK(rot::parse_term("<<\"text\">>") == term(binary{'t', 'e', 'x', 't'}));
    CHECK(rot::parse_term("<<1,\"ab\",2>>") == term(binary{1, 'a', 'b', 2}));
    CHECK(rot::parse_term("<<\"\">>") == term(binary{}));
    CHECK(rot::parse_term("<<16#ff,$a,+3>>") == term(binary{255, 'a', 3}));
    CHECK(rot::parse_term("<<\"é\">>") == term(binary{0xC3, 0xA9}));
    CHECK(rot::parse_term("<<\"\\x00\">>") == term(binary{0}));
    CHECK(parse_error("<<256>>") == "1:3: binary element 256 is not an integer in 0..255");
    CHECK(parse_error("<<-1>>") == "1:3: binary element -1 is not an integer in 0..255");
    CHECK(parse_error("<<1.5>>") == "1:3: binary element 1.5 is not an integer in 0..255");
    CHECK(parse_error("<<a>>") == "1:3: expected an integer or a string in a binary but found 'a'");
    CHECK(parse_error("<<1 2>>") == "1:5: expected ',' or '>>' but found '2'");
    CHECK(parse_error("<<1,>>") == "1:5: expected an integer or a string in a binary but found '>'");
    CHECK(parse_error("<<1") == "1:4: expected ',' or '>>' but found end of input");
    CHECK(parse_error("<<1>") == "1:4: expected ',' or '>>' but found '>'");
    CHECK(parse_error("<<-") == "1:3: expected an integer or a string in a binary but found '-'");
}

TEST_CASE("text: lists, tuples and maps") {
    CHECK(rot::parse_term("[]") == rot::list());
    CHECK(rot::parse_term("[ ]") == rot::list());
    CHECK(rot::parse_term("{}") == rot::tuple());
    CHECK(rot::parse_term("#{}") == rot::map({}));
    CHECK(rot::parse_term("# { }") == rot::map({}));
    CHECK(rot::parse_term("[a, b]") == rot::list(atom("a"), atom("b")));
    CHECK(rot::parse_term("{a,{b,[c]}}") == rot::tuple(atom("a"), rot::tuple(atom("b"), rot::list(atom("c")))));
    CHECK(rot::parse_term("#{a => 1, \"b\" => [2]}") == rot::map({{atom("a"), 1}, {"b", rot::list(2)}}));
    CHECK(rot::parse_term("#{{1,2} => #{}}") == rot::map({{rot::tuple(1, 2), rot::map({})}}));
    CHECK(rot::parse_term("{math, add, [1, 2.5, \"x\", <<1,2>>, #{a => 1}]}") ==
          rot::tuple(atom("math"), atom("add"),
                     rot::list(1, 2.5, "x", binary{1, 2}, rot::map({{atom("a"), 1}}))));
}

TEST_CASE("text: whitespace and comments") {
    CHECK(rot::parse_term("  \t\r\n{ a ,\n\tb } \n") == rot::tuple(atom("a"), atom("b")));
    CHECK(rot::parse_term("% leading comment\n[1, % one\n 2 % two\n] % trailing") == rot::list(1, 2));
    CHECK(rot::parse_term("42 %") == term(42));
    CHECK(rot::parse_term("#{a=>1}") == rot::map({{atom("a"), 1}}));
}

TEST_CASE("text: duplicate map keys are an error naming the key") {
    CHECK(parse_error("#{a => 1, a => 2}") == "1:11: duplicate map key a");
    CHECK(parse_error("#{\"k\" => 1,\n  2 => 2,\n  \"k\" => 3}") == "3:3: duplicate map key \"k\"");
    CHECK(parse_error("#{{1,x} => 1, {1,x} => 2}") == "1:15: duplicate map key {1,x}");
    // 1 and 1.0 are different keys.
    CHECK(rot::parse_term("#{1 => a, 1.0 => b}").as_map().size() == 2);
}

TEST_CASE("text: malformed input says where and what was expected") {
    struct bad {
        std::string text;
        std::string message;
    };
    const bad cases[] = {
        {"", "1:1: expected a term but found end of input"},
        {"   % only a comment", "1:20: expected a term but found end of input"},
        {"[1, x", "1:6: expected ',' or ']' but found end of input"},
        {"[1 x]", "1:4: expected ',' or ']' but found 'x'"},
        {"{math, add, [1, 2 x]}", "1:19: expected ',' or ']' but found 'x'"},
        {"{a b}", "1:4: expected ',' or '}' but found 'b'"},
        {"[1,]", "1:4: expected a term but found ']'"},
        {"[,]", "1:2: expected a term but found ','"},
        {"{a,", "1:4: expected a term but found end of input"},
        {"#{a}", "1:4: expected '=>' but found '}'"},
        {"#{a = 1}", "1:5: expected '=>' but found '='"},
        {"#{a => 1 b => 2}", "1:10: expected ',' or '}' but found 'b'"},
        {"#{a => }", "1:8: expected a term but found '}'"},
        {"#[]", "1:2: expected '{' after '#' but found '['"},
        {"#", "1:2: expected '{' after '#' but found end of input"},
        {"1 2", "1:3: expected end of input but found '2'"},
        {"ok.", "1:3: expected end of input but found '.'"},
        {"[1]]", "1:4: expected end of input but found ']'"},
        {"Var", "1:1: expected a term but found 'V'"},
        {"_", "1:1: expected a term but found '_'"},
        {"- 1", "1:1: expected a term but found '-'"},
        {"-a", "1:1: expected a term but found '-'"},
        {"<1>", "1:1: expected a term but found '<'"},
        {"[\n  1,\n  2\n  3]", "4:3: expected ',' or ']' but found '3'"},
        {"{ok,\n\n     \xc3\xa9}", "3:6: expected a term but found byte 0xC3"},
        {std::string("[\0]", 3), "1:2: expected a term but found byte 0x00"},
        {"[1\n", "2:1: expected ',' or ']' but found end of input"},
        {"[1\n x", "2:2: expected ',' or ']' but found 'x'"},
        {"{'a'b}", "1:5: expected ',' or '}' but found 'b'"},
        {"[1\n\n]x", "3:2: expected end of input but found 'x'"},
        {"\"a\"\"b\"", "1:4: expected end of input but found '\"'"},
        {"{1 'x'}", "1:4: expected ',' or '}' but found \"'\""},
    };
    for (const auto& c : cases) {
        INFO("input: ", c.text);
        CHECK(parse_error(c.text) == c.message);
    }
}

TEST_CASE("text: nesting is limited, never a stack overflow") {
    const int limit = 100;  // rot::detail::max_term_depth
    CHECK(rot::parse_term(nested_text(limit)) == nested_empty(limit));
    CHECK(rot::parse_term(nested_text(limit, "x")) == nested_term(limit, term(atom("x"))));
    CHECK(parse_error(nested_text(limit + 1)) == "1:101: terms nested deeper than 100");
    CHECK(parse_error(repeat("{", limit + 1)) == "1:101: terms nested deeper than 100");
    CHECK(parse_error(repeat("#{a => ", limit + 1)) == "1:701: terms nested deeper than 100");
    CHECK(parse_error(repeat("[", 1'000'000)) == "1:101: terms nested deeper than 100");
    CHECK(parse_error(repeat("[{#{", 100'000)) == "1:134: terms nested deeper than 100");
}

TEST_CASE("text: large inputs") {
    // Wide is fine, only deep is limited.
    std::string text = "[";
    for (int i = 0; i < 100'000; ++i) text += std::to_string(i) + ",";
    text += "0]";
    const term t = rot::parse_term(text);
    REQUIRE(t.as_list().size() == 100'001);
    CHECK(t.as_list()[99'999] == term(99'999));

    std::string big_map = "#{";
    for (int i = 0; i < 20'000; ++i) big_map += std::to_string(i) + " => x,";
    CHECK(parse_error(big_map + "7 => y}") == fmt::format("1:{}: duplicate map key 7", big_map.size() + 1));
    CHECK(rot::parse_term(big_map + "a => y}").as_map().size() == 20'001);

    const std::string long_string(1'000'000, 'z');
    CHECK(rot::parse_term("\"" + long_string + "\"").as_string() == long_string);
}

TEST_CASE("text: garbage never crashes") {
    rng r(7);
    static constexpr std::string_view alphabet = "[]{}#<>=,.\"'\\$%-+0123456789abcxyzE#\n \xc3\xa9\xff";
    for (int round = 0; round < 20'000; ++round) {
        std::string text;
        const auto n = r.below(40);
        for (std::uint64_t i = 0; i < n; ++i) text += alphabet[r.below(alphabet.size())];
        try {
            const term t = rot::parse_term(text);
            // Whatever parses must print back to an equal term.
            CHECK(rot::parse_term(rot::to_string(t)) == t);
        } catch (const rot::error& e) {
            CHECK(e.code() == errc::parse_error);
        } catch (...) {
            FAIL("unexpected exception for input ", text);
        }
    }
}

// ===========================================================================
// Text form: printing

TEST_CASE("print: atoms are quoted when they must be") {
    CHECK(rot::to_string(term(atom("ok"))) == "ok");
    CHECK(rot::to_string(term(atom("aB9_@x"))) == "aB9_@x");
    CHECK(rot::to_string(term(true)) == "true");
    CHECK(rot::to_string(term()) == "undefined");
    CHECK(rot::to_string(term(atom("Ok"))) == "'Ok'");
    CHECK(rot::to_string(term(atom("_x"))) == "'_x'");
    CHECK(rot::to_string(term(atom("9"))) == "'9'");
    CHECK(rot::to_string(term(atom(""))) == "''");
    CHECK(rot::to_string(term(atom("a b"))) == "'a b'");
    CHECK(rot::to_string(term(atom("a-b"))) == "'a-b'");
    CHECK(rot::to_string(term(atom("it's"))) == R"('it\'s')");
    CHECK(rot::to_string(term(atom("a\\b"))) == R"('a\\b')");
    CHECK(rot::to_string(term(atom("a\"b"))) == R"('a"b')");
    CHECK(rot::to_string(term(atom("\n\t\r\x01\x7f"))) == R"('\n\t\r\x01\x7F')");
    CHECK(rot::to_string(term(atom("é"))) == "'é'");
    for (const char* word : {"after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr", "bxor",
                             "case", "catch", "cond", "div", "end", "fun", "if", "let", "maybe", "not", "of",
                             "or", "orelse", "receive", "rem", "try", "when", "xor"}) {
        INFO(word);
        CHECK(rot::to_string(term(atom(word))) == fmt::format("'{}'", word));
        CHECK(rot::parse_term(rot::to_string(term(atom(word)))) == term(atom(word)));
    }
    // Prefixes and extensions of reserved words are ordinary atoms.
    CHECK(rot::to_string(term(atom("ends"))) == "ends");
    CHECK(rot::to_string(term(atom("o"))) == "o");
}

TEST_CASE("print: numbers") {
    CHECK(rot::to_string(term(0)) == "0");
    CHECK(rot::to_string(term(-17)) == "-17");
    CHECK(rot::to_string(term(INT64_MIN)) == "-9223372036854775808");
    CHECK(rot::to_string(term(1.0)) == "1.0");
    CHECK(rot::to_string(term(-1.0)) == "-1.0");
    CHECK(rot::to_string(term(0.0)) == "0.0");
    CHECK(rot::to_string(term(-0.0)) == "-0.0");
    CHECK(rot::to_string(term(2.5)) == "2.5");
    CHECK(rot::to_string(term(0.1)) == "0.1");
    CHECK(rot::to_string(term(100.0)) == "100.0");
    CHECK(rot::to_string(term(1e100)) == "1.0e100");
    CHECK(rot::to_string(term(-1e100)) == "-1.0e100");
    CHECK(rot::to_string(term(1.5e-7)) == "1.5e-7");
    CHECK(rot::to_string(term(1e16)) == "1.0e16");
    CHECK(rot::to_string(term(1e15)) == "1000000000000000.0");
    CHECK(rot::to_string(term(5e-324)) == "5.0e-324");
    CHECK(rot::to_string(term(123456789012345680.0)) == "1.2345678901234568e17");
    CHECK(rot::to_string(term(std::numeric_limits<double>::max())) == "1.7976931348623157e308");
}

TEST_CASE("print: strings and binaries") {
    CHECK(rot::to_string(term("")) == "\"\"");
    CHECK(rot::to_string(term("hi")) == "\"hi\"");
    CHECK(rot::to_string(term("a\"b\\c")) == R"("a\"b\\c")");
    CHECK(rot::to_string(term("it's")) == R"("it's")");
    CHECK(rot::to_string(term("\n\t\r")) == R"("\n\t\r")");
    CHECK(rot::to_string(term(std::string("\0" "1", 2))) == R"("\x001")");
    CHECK(rot::to_string(term("\x1b\x7f")) == R"("\x1B\x7F")");
    CHECK(rot::to_string(term("héllo 😀")) == "\"héllo 😀\"");
    CHECK(rot::to_string(term("50%")) == "\"50%\"");

    CHECK(rot::to_string(term(binary{})) == "<<>>");
    CHECK(rot::to_string(term(binary{'h', 'i'})) == "<<\"hi\">>");
    CHECK(rot::to_string(term(binary{' ', '~'})) == "<<\" ~\">>");
    CHECK(rot::to_string(term(binary{'"', '\\'})) == R"(<<"\"\\">>)");
    CHECK(rot::to_string(term(binary{1, 2, 3})) == "<<1,2,3>>");
    CHECK(rot::to_string(term(binary{'a', '\n'})) == "<<97,10>>");
    CHECK(rot::to_string(term(binary{'a', 0x7F})) == "<<97,127>>");
    CHECK(rot::to_string(term(binary{0xC3, 0xA9})) == "<<195,169>>");
}

TEST_CASE("print: composites are compact") {
    CHECK(rot::to_string(rot::list()) == "[]");
    CHECK(rot::to_string(rot::tuple()) == "{}");
    CHECK(rot::to_string(rot::map({})) == "#{}");
    CHECK(rot::to_string(rot::list(1, 2, 3)) == "[1,2,3]");
    CHECK(rot::to_string(rot::tuple(atom("ok"), rot::list())) == "{ok,[]}");
    CHECK(rot::to_string(rot::map({{atom("b"), 2}, {atom("a"), 1}})) == "#{a => 1,b => 2}");
    CHECK(rot::to_string(rot::map({{rot::map({}), rot::tuple()}})) == "#{#{} => {}}");
}

// ===========================================================================
// Round trips

TEST_CASE("round trip: text -> term -> text is canonical") {
    const char* canonical[] = {
        "{math,add,[1,2.5,\"x\",<<1,2>>,#{a => 1}]}",
        "[ok,'Ok','after',true,undefined,'']",
        "#{1 => a,1.0 => b,x => [],\"s\" => <<>>}",
        "{-9223372036854775808,9223372036854775807,-0.0,1.0e-7,1.0e100}",
        "[<<\"text\">>,<<0,255>>,\"\\n\\t\\\"\\\\\",\"é😀\"]",
        "{{{}},[[]],#{#{} => #{}}}",
    };
    for (const char* text : canonical) {
        INFO(text);
        CHECK(rot::to_string(rot::parse_term(text)) == text);
    }
    // Other spellings normalise.
    CHECK(rot::to_string(rot::parse_term(" { a , 16#10 , $a , 1.50e1 } % c")) == "{a,16,97,15.0}");
    CHECK(rot::to_string(rot::parse_term("#{b=>1,a=>2}")) == "#{a => 2,b => 1}");
    CHECK(rot::to_string(rot::parse_term("<<104,105>>")) == "<<\"hi\">>");
    CHECK(rot::to_string(rot::parse_term("'ok'")) == "ok");
    CHECK(rot::to_string(rot::parse_term("\"\\x{41}\\s\"")) == "\"A \"");
}

TEST_CASE("round trip: generated terms through text and binary") {
    term_generator gen(20240601);
    for (int i = 0; i < 5000; ++i) {
        const term t = gen.any();
        const std::string text = rot::to_string(t);
        INFO("term #", i, ": ", text);
        term back;
        REQUIRE_NOTHROW(back = rot::parse_term(text));
        CHECK(back == t);
        CHECK(rot::to_string(back) == text);

        const binary bytes = rot::to_binary(t);
        term decoded;
        REQUIRE_NOTHROW(decoded = rot::from_binary(bytes));
        CHECK(decoded == t);
        CHECK(rot::to_binary(decoded) == bytes);
    }
}

TEST_CASE("round trip: float printing is exact for random bit patterns") {
    rng r(99);
    int checked = 0;
    while (checked < 20'000) {
        const double d = std::bit_cast<double>(r.next());
        if (!std::isfinite(d)) continue;
        ++checked;
        const std::string s = rot::to_string(term(d));
        const term back = rot::parse_term(s);
        REQUIRE(back.is_float());
        CHECK(std::bit_cast<std::uint64_t>(back.as_float()) == std::bit_cast<std::uint64_t>(d));
    }
}

// ===========================================================================
// Binary form

TEST_CASE("binary: encodings are as documented") {
    CHECK(rot::to_binary(term(0)) == binary{1, 0});
    CHECK(rot::to_binary(term(-1)) == binary{1, 1});  // zigzag
    CHECK(rot::to_binary(term(1)) == binary{1, 2});
    CHECK(rot::to_binary(term(64)) == binary{1, 0x80, 0x01});
    CHECK(rot::to_binary(term(atom("ok"))) == binary{3, 2, 'o', 'k'});
    CHECK(rot::to_binary(rot::list(1)) == binary{6, 1, 1, 2});
    CHECK(rot::to_binary(term("a")) == binary{7, 1, 'a'});
    CHECK(rot::to_binary(term(binary{9})) == binary{8, 1, 9});
    CHECK(rot::to_binary(rot::tuple()) == binary{4, 0});
    CHECK(rot::to_binary(rot::map({})) == binary{5, 0});
    CHECK(rot::to_binary(term(1.0)) == binary{2, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F});
    // Atoms over 255 bytes cannot be encoded.
    try {
        (void)rot::to_binary(term(atom(std::string(256, 'a'))));
        FAIL("long atom encoded");
    } catch (const rot::error& e) {
        CHECK(e.code() == errc::invalid_argument);
    }
}

TEST_CASE("binary: round trips") {
    const term samples[] = {
        term(), term(0), term(INT64_MIN), term(INT64_MAX), term(-0.0), term(5e-324),
        term(std::numeric_limits<double>::max()), term(atom(std::string(255, 'z'))), term(""),
        term("é😀"), term(binary{}), term(bytes(1000, 7)), rot::list(), rot::tuple(), rot::map({}),
        rot::parse_term("{math,add,[1,2.5,\"x\",<<1,2>>,#{a => 1, {b} => [c]}]}"),
        nested_empty(100), nested_term(100, term(atom("deep"))),
    };
    for (const auto& t : samples) {
        INFO(rot::to_string(t));
        CHECK(rot::from_binary(rot::to_binary(t)) == t);
    }
    CHECK(std::signbit(rot::from_binary(rot::to_binary(term(-0.0))).as_float()));
}

TEST_CASE("binary: truncation at every offset is a protocol error") {
    term_generator gen(5);
    std::vector<term> samples = {
        rot::parse_term("{math,add,[1,2.5,\"x\",<<1,2>>,#{a => 1, {b} => [c]}]}"),
        term(INT64_MIN), term(1.5), term(atom("abc")), term("xyz"), term(binary{1, 2, 3}),
    };
    for (int i = 0; i < 50; ++i) samples.push_back(gen.any());
    for (const auto& t : samples) {
        const binary full = rot::to_binary(t);
        for (std::size_t n = 0; n < full.size(); ++n) {
            INFO(rot::to_string(t), " cut to ", n, " of ", full.size(), " bytes");
            const bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
            try {
                (void)rot::from_binary(cut);
                FAIL_CHECK("truncated input decoded");
            } catch (const rot::error& e) {
                CHECK(e.code() == errc::protocol_error);
            }
        }
    }
}

TEST_CASE("binary: counts and lengths larger than the input fail fast") {
    // 2^60 as a varint: 9 bytes of 0x80 and a final 0x10.
    const binary huge_count = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10};
    for (std::uint8_t tag : {4, 5, 6}) {
        bytes b = {tag};
        b.insert(b.end(), huge_count.begin(), huge_count.end());
        REQUIRE(b.size() == 10);
        CHECK(contains(decode_error(b), "items cannot fit"));
    }
    for (std::uint8_t tag : {7, 8}) {
        bytes b = {tag};
        b.insert(b.end(), huge_count.begin(), huge_count.end());
        CHECK(contains(decode_error(b), "length 1152921504606846976 but only 0 bytes left"));
    }
    // Just one item more than could fit.
    CHECK(contains(decode_error({6, 3, 1, 0, 1, 0}), "3 items cannot fit in 4 bytes"));
    CHECK(contains(decode_error({5, 2, 1, 0, 1, 0}), "2 items cannot fit in 4 bytes"));
    CHECK(contains(decode_error({7, 5, 'a', 'b'}), "length 5 but only 2 bytes left"));
    CHECK(contains(decode_error({3, 200, 'a'}), "length 200 but only 1 bytes left"));
    CHECK(contains(decode_error({3}), "truncated"));
    CHECK(contains(decode_error({2, 0, 0, 0}), "truncated"));
    CHECK(contains(decode_error({}), "truncated"));
    // Counts that fit, with the items missing, are still caught.
    CHECK(contains(decode_error({6, 2, 2, 0, 0, 0}), "truncated"));
}

TEST_CASE("binary: nesting is limited") {
    bytes bomb;
    for (int i = 0; i < 10'000; ++i) {
        bomb.push_back(6);
        bomb.push_back(1);
    }
    bomb.push_back(1);
    bomb.push_back(0);
    CHECK(decode_error(bomb) == "malformed data at byte 200: terms nested deeper than 100");

    // 100 nested containers are fine; the 101st is refused even when empty.
    CHECK(rot::from_binary(rot::to_binary(nested_empty(100))) == nested_empty(100));
    CHECK(contains(decode_error(rot::to_binary(nested_empty(101)).to_vector()), "terms nested deeper than 100"));
    CHECK(contains(decode_error(rot::to_binary(nested_term(101, term(1))).to_vector()), "terms nested deeper than 100"));
    bytes tuples;
    for (int i = 0; i < 101; ++i) tuples.insert(tuples.end(), {4, 1});
    tuples.insert(tuples.end(), {4, 0});
    CHECK(contains(decode_error(tuples), "terms nested deeper than 100"));
    bytes maps;
    for (int i = 0; i < 101; ++i) maps.insert(maps.end(), {5, 1, 1, 0});
    CHECK(contains(decode_error(maps), "terms nested deeper than 100"));
}

TEST_CASE("binary: varints") {
    // The largest and smallest integers take ten bytes.
    CHECK(rot::to_binary(term(INT64_MIN)).size() == 11);
    CHECK(rot::from_binary(binary{1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}) == term(INT64_MIN));
    // A tenth byte above 1 overflows 64 bits.
    CHECK(contains(decode_error({1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02}),
                   "varint overflows 64 bits"));
    // More continuation bytes than a varint can have.
    bytes overlong = {1};
    overlong.insert(overlong.end(), 20, 0x80);
    overlong.push_back(0);
    CHECK(contains(decode_error(overlong), "varint overflows 64 bits"));
    bytes unterminated = {1};
    unterminated.insert(unterminated.end(), 5, 0x80);
    CHECK(contains(decode_error(unterminated), "truncated"));
    // Redundant zero continuation bytes still decode to the same value.
    CHECK(rot::from_binary(binary{1, 0x82, 0x00}) == term(1));
}

TEST_CASE("binary: bad tags, text and floats") {
    CHECK(decode_error({0, 0}) == "malformed data at byte 0: unknown term tag 0");
    CHECK(decode_error({9}) == "malformed data at byte 0: unknown term tag 9");
    CHECK(decode_error({6, 1, 255, 0}) == "malformed data at byte 2: unknown term tag 255");

    CHECK(contains(decode_error({7, 1, 0xFF}), "string is not valid UTF-8"));
    CHECK(contains(decode_error({7, 2, 0xC0, 0x80}), "string is not valid UTF-8"));
    CHECK(contains(decode_error({7, 3, 0xED, 0xA0, 0x80}), "string is not valid UTF-8"));
    CHECK(contains(decode_error({3, 1, 0x80}), "atom is not valid UTF-8"));
    CHECK(rot::from_binary(binary{3, 2, 0xC3, 0xA9}) == term(atom("é")));
    CHECK(rot::from_binary(binary{8, 2, 0xC3, 0x28}) == term(binary{0xC3, 0x28}));  // binaries are any bytes

    const auto float_bytes = [](double d) {
        bytes b = {2};
        const auto bits = std::bit_cast<std::uint64_t>(d);
        for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
        return b;
    };
    CHECK(contains(decode_error(float_bytes(std::numeric_limits<double>::quiet_NaN())), "float is not finite"));
    CHECK(contains(decode_error(float_bytes(std::numeric_limits<double>::infinity())), "float is not finite"));
    CHECK(contains(decode_error(float_bytes(-std::numeric_limits<double>::infinity())), "float is not finite"));
    CHECK(rot::from_binary(float_bytes(2.5)) == term(2.5));
}

TEST_CASE("binary: trailing bytes and map keys") {
    CHECK(decode_error({1, 2, 0}) == "malformed data at byte 2: 1 trailing bytes after the term");
    CHECK(contains(decode_error({6, 0, 6, 0}), "trailing bytes"));
    // Duplicate keys are refused; unsorted keys are sorted.
    CHECK(contains(decode_error({5, 2, 1, 2, 1, 0, 1, 2, 1, 0}), "duplicate map key 1"));
    CHECK(rot::from_binary(binary{5, 2, 1, 4, 1, 0, 1, 2, 1, 0}) == rot::map({{1, 0}, {2, 0}}));
}

TEST_CASE("binary: garbage decodes or throws rot::error, nothing else") {
    int decoded = 0;
    for (std::uint64_t seed = 0; seed < 20'000; ++seed) {
        rng r(seed);
        bytes b(r.below(32));
        for (auto& x : b) {
            // Mostly small values so that tags, counts and lengths often make sense.
            x = static_cast<std::uint8_t>(r.chance(80) ? r.below(10) : r.below(256));
        }
        try {
            const term t = rot::from_binary(b);
            ++decoded;
            CHECK(rot::from_binary(rot::to_binary(t)) == t);
            CHECK(rot::parse_term(rot::to_string(t)) == t);
        } catch (const rot::error& e) {
            CHECK(e.code() == errc::protocol_error);
        } catch (...) {
            FAIL("unexpected exception for seed ", seed);
        }
    }
    CHECK(decoded > 100);  // the garbage sometimes makes sense, so both paths run
}

TEST_CASE("binary: corrupted valid encodings decode or throw rot::error") {
    term_generator gen(11);
    rng r(12);
    for (int i = 0; i < 3000; ++i) {
        bytes b = rot::to_binary(gen.any()).to_vector();
        const auto flips = 1 + r.below(3);
        for (std::uint64_t f = 0; f < flips; ++f) b[r.below(b.size())] ^= static_cast<std::uint8_t>(1u << r.below(8));
        try {
            const term t = rot::from_binary(b);
            CHECK(rot::from_binary(rot::to_binary(t)) == t);
            CHECK(rot::parse_term(rot::to_string(t)) == t);
        } catch (const rot::error& e) {
            CHECK(e.code() == errc::protocol_error);
        } catch (...) {
            FAIL("unexpected exception for case ", i);
        }
    }
}
