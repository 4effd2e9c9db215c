// A shared library that is not a rot module: it has no entry point.
extern "C" int not_a_rot_module() { return 42; }
