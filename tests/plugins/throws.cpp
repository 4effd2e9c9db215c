// A rot module whose entry point fails.
#include <rot/plugin.hpp>

#include <stdexcept>

ROT_PLUGIN(p) {
    p.module("half").def("f", [] { return 1; });
    throw std::runtime_error("cannot initialise");
}
