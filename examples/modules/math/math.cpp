// The demo module `math`, as a plugin: loaded by the quick start and the tests.
#include <rot/plugin.hpp>

#include <chrono>
#include <thread>

ROT_PLUGIN(p) {
    p.module("math")
        .def("add", [](std::int64_t a, std::int64_t b) { return a + b; })
        .def("mul", [](std::int64_t a, std::int64_t b) { return a * b; })
        .def("echo", [](const rot::term& t) { return t; })
        // Answers after `ms` milliseconds: for trying timeouts.
        .def("sleep_ms", [](std::int64_t ms) {
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            return rot::atom("ok");
        });
}
