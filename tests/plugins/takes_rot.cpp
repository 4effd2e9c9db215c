// A rot module that defines a fresh module and one whose name is taken.
#include <rot/plugin.hpp>

ROT_PLUGIN(p) {
    p.module("fresh").def("f", [] { return 1; });
    p.module("rot").def("f", [] { return 2; });
}
