// The registry without sockets: arity, conversions, exceptions, jails.

#include <doctest/doctest.h>

#include "registry.hpp"

using namespace rot;
using rot::detail::registry;

namespace {
struct fixture {
    registry reg;
    fixture() {
        module_builder math(reg, "math");
        math.def("add", [](std::int64_t a, std::int64_t b) { return a + b; })
            .def("add", [](std::int64_t a, std::int64_t b, std::int64_t c) { return a + b + c; })
            .def("neg", [](double x) { return -x; })
            .def("nothing", [] {})
            .def("raw", [](const term& t, term u) { return tuple(t, u); })
            .def("boom", []() -> int { throw std::runtime_error("kaput"); })
            .def("strange", []() -> int { throw 42; })
            .def("nested", []() -> int { throw rot::error(errc::timeout, "inner call timed out"); });
        module_builder(reg, "ets").def("info", [] { return atom("ets"); });
    }
    result<term> run(std::string_view jail, std::string_view m, std::string_view f, std::vector<term> args) {
        auto t = reg.resolve(jail, m, f, args.size());
        if (!t) return t.error();
        return registry::invoke(*t->fn, args, t->module, f);
    }
};
errc code(const result<term>& r) { return static_cast<errc>(r.code().value()); }
}  // namespace

TEST_CASE_FIXTURE(fixture, "functions are found by module, name and arity") {
    CHECK(run("", "math", "add", {1, 2}).value() == term(3));
    CHECK(run("", "math", "add", {1, 2, 3}).value() == term(6));
    CHECK(run("", "math", "nothing", {}).value() == term(atom("ok")));
    CHECK(run("", "math", "raw", {atom("a"), "b"}).value() == tuple(atom("a"), "b"));
    const auto r = run("", "math", "add", {1});
    CHECK(code(r) == errc::undef);
    CHECK(r.error().message == "undefined function math:add/1");
    CHECK(run("", "nomodule", "f", {}).error().message == "undefined function nomodule:f/0");
    CHECK(reg.has_module("math"));
    CHECK(reg.modules() == std::vector<std::string>{"ets", "math"});
    const auto exports = reg.exports("math");
    REQUIRE(exports);
    CHECK(exports->size() == 8);
    CHECK(exports->front() == std::pair<std::string, std::size_t>{"add", 2});
    CHECK_FALSE(reg.exports("nomodule"));
}

TEST_CASE_FIXTURE(fixture, "wrong argument types are badarg naming the argument") {
    auto r = run("", "math", "add", {1, "two"});
    CHECK(code(r) == errc::badarg);
    CHECK(r.error().message == "bad argument in math:add/2: argument 2: expected integer, got string \"two\"");
    r = run("", "math", "neg", {atom("x")});
    CHECK(code(r) == errc::badarg);
    CHECK(run("", "math", "neg", {2}).value() == term(-2.0));  // integers convert to double
}

TEST_CASE_FIXTURE(fixture, "exceptions in handlers become failures, never escape") {
    auto r = run("", "math", "boom", {});
    CHECK(code(r) == errc::exception);
    CHECK(r.error().message == "exception in math:boom/0: kaput");
    r = run("", "math", "strange", {});
    CHECK(code(r) == errc::exception);
    CHECK(r.error().message == "exception in math:strange/0: unknown C++ exception");
    r = run("", "math", "nested", {});
    CHECK(code(r) == errc::exception);
    CHECK(r.error().message == "exception in math:nested/0: inner call timed out");
}

TEST_CASE_FIXTURE(fixture, "a jail replaces the module, before anything else") {
    // As the seed: jailed to ets, {erlang, memory, []} is ets:memory/0.
    auto r = run("ets", "erlang", "memory", {});
    CHECK(code(r) == errc::undef);
    CHECK(r.error().message == "undefined function ets:memory/0");
    CHECK(run("ets", "math", "info", {}).value() == term(atom("ets")));
    // {Function, Args}: no module in the request.
    CHECK(run("ets", "", "info", {}).value() == term(atom("ets")));
    r = run("", "", "info", {});
    CHECK(code(r) == errc::bad_request);
    CHECK(r.error().message.find("no jail") != std::string::npos);
    // Resolution needs only the arity: arguments are not looked at.
    const auto t = reg.resolve("math", "whatever", "add", 2);
    REQUIRE(t);
    CHECK(t->module == "math");
}

TEST_CASE_FIXTURE(fixture, "definitions are checked") {
    module_builder math(reg, "math");
    CHECK_THROWS_AS(math.def("add", [](int a, int b) { return a - b; }), rot::error);
    CHECK_THROWS_AS(module_builder(reg, "").def("f", [] {}), rot::error);
    CHECK_THROWS_AS(reg.add_module("math"), rot::error);
    reg.add_module("empty");
    CHECK(reg.exports("empty")->empty());
}

TEST_CASE("arguments bind without copies where they can") {
    registry reg;
    const std::uint8_t* seen = nullptr;
    module_builder m(reg, "m");
    m.def("peek", [&](const binary& b) { seen = b.data(); return b.size(); })
        .def("keep", [&](binary b) { seen = b.data(); return b; })
        .def("same", [](const term& t) { return t; });
    std::vector<term> args{binary(1000, 7)};
    const auto* original = args[0].as_binary().data();
    auto t = reg.resolve("", "m", "peek", 1);
    CHECK(registry::invoke(*t->fn, args, "m", "peek").value() == term(1000));
    CHECK(seen == original);  // bound to the decoded argument itself
    t = reg.resolve("", "m", "keep", 1);
    const term kept = registry::invoke(*t->fn, args, "m", "keep").value();
    CHECK(seen == original);  // moved in...
    CHECK(kept.as_binary().data() == original);  // ...and out
    std::vector<term> wrong{atom("x")};
    const auto r = registry::invoke(*t->fn, wrong, "m", "keep");
    CHECK(r.error().message == "bad argument in m:keep/1: argument 1: expected binary, got atom x");
}
