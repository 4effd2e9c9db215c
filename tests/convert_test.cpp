// Tests of rot/convert.hpp: C++ values to terms and back, and the badarg
// errors for terms of the wrong kind or out of range.

#include <rot/convert.hpp>
#include <rot/error.hpp>
#include <rot/term.hpp>

#include <doctest/doctest.h>

#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

using rot::atom;
using rot::binary;
using rot::errc;
using rot::term;

namespace {

// The message of the badarg that converting t to T throws.
template <class T>
std::string badarg(const term& t) {
    try {
        (void)rot::from_term<T>(t);
        FAIL_CHECK("converted without error: ", rot::to_string(t));
    } catch (const rot::error& e) {
        CHECK(e.code() == errc::badarg);
        return e.message();
    }
    return {};
}

template <class T>
T round_trip(const T& v) {
    return rot::from_term<T>(rot::to_term(v));
}

struct point {
    std::string name;
    std::int32_t x = 0;
    double y = 0;
    std::vector<int> tags;
    std::map<std::string, int> attrs;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(name, x, y, tags, attrs);
    }
    friend bool operator==(const point&, const point&) = default;
};

}  // namespace

TEST_CASE("convert: signed integers with range checks") {
    CHECK(rot::to_term(42) == term(42));
    CHECK(rot::from_term<int>(term(42)) == 42);
    CHECK(rot::from_term<int>(term(-42)) == -42);
    CHECK(rot::from_term<std::int64_t>(term(INT64_MIN)) == INT64_MIN);
    CHECK(rot::from_term<std::int64_t>(term(INT64_MAX)) == INT64_MAX);
    CHECK(rot::from_term<std::int8_t>(term(127)) == 127);
    CHECK(rot::from_term<std::int8_t>(term(-128)) == -128);
    CHECK(rot::from_term<short>(term(-32768)) == -32768);
    CHECK(term(7).as<long>() == 7);

    CHECK(badarg<std::int8_t>(term(128)) == "expected integer in range of the parameter type, got integer 128");
    CHECK(badarg<std::int8_t>(term(-129)) == "expected integer in range of the parameter type, got integer -129");
    CHECK(badarg<int>(term(std::int64_t{1} << 31)) ==
          "expected integer in range of the parameter type, got integer 2147483648");
    CHECK(badarg<int>(term(INT64_MIN)) ==
          "expected integer in range of the parameter type, got integer -9223372036854775808");
    // Floats do not silently truncate to integers.
    CHECK(badarg<int>(term(1.0)) == "expected integer, got float 1.0");
    CHECK(badarg<int>(term("1")) == "expected integer, got string \"1\"");
    CHECK(badarg<int>(term(atom("one"))) == "expected integer, got atom one");
}

TEST_CASE("convert: unsigned integers with range checks") {
    CHECK(rot::from_term<unsigned>(term(7)) == 7u);
    CHECK(rot::from_term<std::uint8_t>(term(255)) == 255);
    CHECK(rot::from_term<std::uint16_t>(term(65535)) == 65535);
    CHECK(rot::from_term<std::uint32_t>(term(4294967295LL)) == 4294967295u);
    CHECK(rot::from_term<std::uint64_t>(term(INT64_MAX)) == static_cast<std::uint64_t>(INT64_MAX));
    CHECK(rot::to_term(std::uint64_t{5}) == term(5));
    CHECK(round_trip<std::uint64_t>(static_cast<std::uint64_t>(INT64_MAX)) == static_cast<std::uint64_t>(INT64_MAX));
    // Above INT64_MAX a uint64 has no term.
    CHECK_THROWS_AS((void)rot::to_term(std::numeric_limits<std::uint64_t>::max()), std::out_of_range);

    CHECK(badarg<std::uint8_t>(term(256)) == "expected integer in range of the parameter type, got integer 256");
    CHECK(badarg<std::uint8_t>(term(-1)) == "expected integer in range of the parameter type, got integer -1");
    CHECK(badarg<unsigned>(term(-1)) == "expected integer in range of the parameter type, got integer -1");
    CHECK(badarg<std::uint64_t>(term(INT64_MIN)) ==
          "expected integer in range of the parameter type, got integer -9223372036854775808");
    CHECK(badarg<std::uint32_t>(term(4294967296LL)) ==
          "expected integer in range of the parameter type, got integer 4294967296");
}

TEST_CASE("convert: floating point accepts integers") {
    CHECK(rot::to_term(2.5) == term(2.5));
    CHECK(rot::to_term(2.5f) == term(2.5));
    CHECK(rot::from_term<double>(term(2.5)) == 2.5);
    CHECK(rot::from_term<double>(term(3)) == 3.0);
    CHECK(rot::from_term<double>(term(-7)) == -7.0);
    CHECK(rot::from_term<float>(term(0.5)) == 0.5f);
    CHECK(rot::from_term<float>(term(2)) == 2.0f);
    CHECK(round_trip(0.1) == 0.1);
    CHECK(badarg<double>(term(atom("pi"))) == "expected number, got atom pi");
    CHECK(badarg<double>(term("1.5")) == "expected number, got string \"1.5\"");
}

TEST_CASE("convert: bool") {
    CHECK(rot::to_term(true) == term(atom("true")));
    CHECK(rot::to_term(false) == term(atom("false")));
    CHECK(rot::from_term<bool>(term(atom("true"))) == true);
    CHECK(rot::from_term<bool>(term(atom("false"))) == false);
    CHECK(badarg<bool>(term(atom("yes"))) == "expected boolean, got atom yes");
    CHECK(badarg<bool>(term(1)) == "expected boolean, got integer 1");
    CHECK(badarg<bool>(term("true")) == "expected boolean, got string \"true\"");
}

TEST_CASE("convert: std::string and std::string_view take strings, atoms and binaries") {
    CHECK(rot::to_term(std::string("héllo")) == term("héllo"));
    CHECK(rot::to_term(std::string("héllo")).is_string());
    CHECK(rot::from_term<std::string>(term("héllo")) == "héllo");
    CHECK(rot::from_term<std::string>(term(binary{'a', 0, 0xFF})) == std::string("a\0\xff", 3));
    CHECK(round_trip(std::string()) == "");
    // An Erlang user writes greet(world) as often as greet("world").
    CHECK(rot::from_term<std::string>(term(atom("abc"))) == "abc");
    CHECK(rot::from_term<std::string_view>(term(atom("abc"))) == "abc");
    CHECK(badarg<std::string>(term(1)) == "expected string, got integer 1");
    CHECK(badarg<std::string>(rot::list(97, 98)) == "expected string, got list [97,98]");
    // Not UTF-8: a std::string holding bytes cannot become a string term.
    CHECK_THROWS_AS((void)rot::to_term(std::string("\xff")), std::invalid_argument);

    const term s("view");
    const std::string_view v = rot::from_term<std::string_view>(s);
    CHECK(v == "view");
    CHECK(v.data() == s.as_string().data());  // a view into the term, not a copy
    const term b(binary{'x', 'y'});
    CHECK(rot::from_term<std::string_view>(b) == "xy");
    CHECK(rot::to_term(std::string_view("sv")) == term("sv"));
    CHECK(badarg<std::string_view>(term(1)) == "expected string, got integer 1");
}

TEST_CASE("convert: atoms") {
    CHECK(rot::to_term(atom("ok")) == rot::parse_term("ok"));
    CHECK(rot::from_term<atom>(rot::parse_term("'Hello world'")) == atom("Hello world"));
    CHECK(round_trip(atom("x")) == atom("x"));
    CHECK(badarg<atom>(term("ok")) == "expected atom, got string \"ok\"");
}

TEST_CASE("convert: binaries") {
    const binary bytes = {0, 1, 2, 0xFF};
    CHECK(rot::to_term(bytes) == term(bytes));
    CHECK(rot::to_term(bytes).is_binary());
    CHECK(rot::from_term<binary>(term(bytes)) == bytes);
    CHECK(badarg<binary>(term("text")) == "expected binary, got string \"text\"");
    CHECK(badarg<binary>(rot::list(1, 2)) == "expected binary, got list [1,2]");

    const std::vector<std::byte> raw = {std::byte{0xDE}, std::byte{0xAD}};
    CHECK(rot::to_term(raw) == term(binary{0xDE, 0xAD}));
    CHECK(rot::from_term<std::vector<std::byte>>(term(binary{0xDE, 0xAD})) == raw);
    CHECK(round_trip(std::vector<std::byte>{}).empty());
    CHECK(badarg<std::vector<std::byte>>(term("x")) == "expected binary, got string \"x\"");
}

TEST_CASE("convert: vectors are lists") {
    const std::vector<int> v = {1, 2, 3};
    CHECK(rot::to_term(v) == rot::list(1, 2, 3));
    CHECK(rot::from_term<std::vector<int>>(rot::list(1, 2, 3)) == v);
    CHECK(rot::from_term<std::vector<int>>(rot::list()).empty());
    CHECK(round_trip(std::vector<std::string>{"a", "b"}) == std::vector<std::string>{"a", "b"});
    CHECK(round_trip(std::vector<std::vector<double>>{{1.5}, {}}) == std::vector<std::vector<double>>{{1.5}, {}});
    CHECK(rot::to_term(std::vector<bool>{true, false}) == rot::list(true, false));
    CHECK(badarg<std::vector<int>>(rot::tuple(1, 2)) == "expected list, got tuple {1,2}");
    // An element of the wrong kind names the element.
    CHECK(badarg<std::vector<int>>(rot::list(1, atom("two"))) == "expected integer, got atom two");
    CHECK(badarg<std::vector<std::uint8_t>>(rot::list(1, 2)) == "expected binary, got list [1,2]");
}

TEST_CASE("convert: maps") {
    const std::map<std::string, int> m = {{"b", 2}, {"a", 1}};
    const term t = rot::to_term(m);
    CHECK(t == rot::parse_term(R"(#{"a" => 1, "b" => 2})"));
    CHECK(rot::from_term<std::map<std::string, int>>(t) == m);
    CHECK(round_trip(std::map<int, std::vector<int>>{{1, {2}}}) == std::map<int, std::vector<int>>{{1, {2}}});

    const std::unordered_map<int, std::string> u = {{3, "c"}, {1, "a"}, {2, "b"}};
    CHECK(rot::to_term(u) == rot::parse_term(R"(#{1 => "a", 2 => "b", 3 => "c"})"));
    CHECK(round_trip(u) == u);
    CHECK(rot::from_term<std::map<atom, int>>(rot::parse_term("#{x => 1}")) == std::map<atom, int>{{atom("x"), 1}});

    CHECK(badarg<std::map<std::string, int>>(rot::list()) == "expected map, got list []");
    CHECK(rot::from_term<std::map<std::string, int>>(rot::parse_term("#{a => 1}")) ==
          std::map<std::string, int>{{"a", 1}});
    CHECK(badarg<std::map<std::string, int>>(rot::parse_term("#{1 => 1}")) == "expected string, got integer 1");
    CHECK(badarg<std::map<std::string, int>>(rot::parse_term("#{\"a\" => x}")) == "expected integer, got atom x");
}

TEST_CASE("convert: tuples and pairs") {
    const std::tuple<int, std::string, atom> tup{1, "two", atom("three")};
    const term t = rot::to_term(tup);
    CHECK(t == rot::parse_term(R"({1, "two", three})"));
    CHECK((rot::from_term<std::tuple<int, std::string, atom>>(t) == tup));
    CHECK(rot::to_term(std::tuple<>{}) == rot::tuple());
    CHECK(rot::from_term<std::tuple<>>(rot::tuple()) == std::tuple<>{});

    const std::pair<std::string, double> p{"pi", 3.14};
    CHECK(rot::to_term(p) == rot::parse_term(R"({"pi", 3.14})"));
    CHECK((round_trip(p) == p));

    CHECK((badarg<std::tuple<int, int>>(rot::tuple(1)) == "expected tuple of 2 elements, got tuple {1}"));
    CHECK((badarg<std::tuple<int, int>>(rot::tuple(1, 2, 3)) == "expected tuple of 2 elements, got tuple {1,2,3}"));
    CHECK((badarg<std::tuple<int, int>>(rot::list(1, 2)) == "expected tuple of 2 elements, got list [1,2]"));
    CHECK((badarg<std::pair<int, int>>(rot::tuple(1)) == "expected tuple of 2 elements, got tuple {1}"));
    CHECK((badarg<std::pair<int, int>>(rot::tuple(1, "x")) == "expected integer, got string \"x\""));
}

TEST_CASE("convert: optional is undefined when empty") {
    CHECK(rot::to_term(std::optional<int>{}) == term(atom("undefined")));
    CHECK(rot::to_term(std::optional<int>{5}) == term(5));
    CHECK(rot::from_term<std::optional<int>>(term()) == std::nullopt);
    CHECK(rot::from_term<std::optional<int>>(term(atom("undefined"))) == std::nullopt);
    CHECK(rot::from_term<std::optional<int>>(term(5)) == 5);
    CHECK(round_trip(std::optional<std::string>{"s"}) == "s");
    CHECK(badarg<std::optional<int>>(term(atom("none"))) == "expected integer, got atom none");
}

TEST_CASE("convert: term to term, and term constructors use convert") {
    const term t = rot::parse_term("{a, [1]}");
    CHECK(rot::to_term(t) == t);
    CHECK(rot::from_term<term>(t) == t);
    CHECK(t.as<term>() == t);
    // Containers nest inside the building helpers.
    CHECK(rot::list(std::vector<int>{1, 2}, std::optional<int>{}) == rot::parse_term("[[1, 2], undefined]"));
    CHECK(rot::tuple(std::map<int, int>{{1, 2}}) == rot::parse_term("{#{1 => 2}}"));
    const auto [ok, n] = rot::parse_term("{ok, 3}").as<std::tuple<atom, int>>();
    CHECK(ok == atom("ok"));
    CHECK(n == 3);
}

TEST_CASE("convert: cereal-serialisable structs travel as binaries") {
    const point p{"origin", -3, 2.5, {1, 2, 3}, {{"k", 7}}};
    const term t = rot::to_term(p);
    REQUIRE(t.is_binary());
    CHECK_FALSE(t.as_binary().empty());
    CHECK(rot::from_term<point>(t) == p);
    CHECK(t.as<point>() == p);
    CHECK(round_trip(point{}) == point{});
    // Through the binary form of terms, too.
    CHECK(rot::from_binary(rot::to_binary(rot::list(p))).as<std::vector<point>>() == std::vector<point>{p});
    CHECK(rot::from_term<std::optional<point>>(term()) == std::nullopt);
}

TEST_CASE("convert: a bad cereal encoding is badarg") {
    CHECK(badarg<point>(term("not a binary")) == "expected binary (cereal-encoded), got string \"not a binary\"");
    CHECK(badarg<point>(rot::tuple()) == "expected binary (cereal-encoded), got tuple {}");

    const std::string expected = "expected binary holding a valid cereal encoding, got binary ";
    CHECK(badarg<point>(term(binary{})).starts_with(expected));
    CHECK(badarg<point>(term(binary{1, 2, 3})).starts_with(expected));
    // Truncated at every length, the real encoding never decodes.
    const binary full = rot::to_term(point{"origin", -3, 2.5, {1, 2, 3}, {{"k", 7}}}).as_binary();
    for (std::size_t n = 0; n < full.size(); ++n) {
        INFO("cut to ", n);
        CHECK(badarg<point>(term(binary(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n))))
                  .starts_with(expected));
    }
    // A string length no allocation could satisfy: cereal sizes the string
    // before it reads, which must still come out as badarg.
    std::vector<std::uint8_t> huge_length = {1};  // little-endian marker
    huge_length.insert(huge_length.end(), 8, 0xFF);
    CHECK(badarg<point>(term(huge_length)).starts_with(expected));
}
