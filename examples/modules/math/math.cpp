// The demo module `math`, as a plugin: loaded by the quick start and the tests.
#include <rot/plugin.hpp>

#include <chrono>
#include <thread>

namespace {

// Integers are 64-bit: a result that does not fit is an error, not a wrap.
[[noreturn]] void overflow(std::int64_t a, char op, std::int64_t b) {
    throw rot::error(rot::errc::badarg, fmt::format("integer overflow: {} {} {} does not fit in 64 bits", a, op, b));
}

}  // namespace

ROT_PLUGIN(p) {
    p.module("math")
        .def("add", [](std::int64_t a, std::int64_t b) {
            std::int64_t r = 0;
            if (__builtin_add_overflow(a, b, &r)) overflow(a, '+', b);
            return r;
        })
        .def("mul", [](std::int64_t a, std::int64_t b) {
            std::int64_t r = 0;
            if (__builtin_mul_overflow(a, b, &r)) overflow(a, '*', b);
            return r;
        })
        .def("echo", [](const rot::term& t) { return t; })
        // Answers after `ms` milliseconds: for trying timeouts.
        .def("sleep_ms", [](std::int64_t ms) {
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            return rot::atom("ok");
        });
}
