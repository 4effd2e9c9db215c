#pragma once
// Modules as plugins: a shared library with one C entry point that registers
// its functions on the node it is given. Write it as
//
//   #include <rot/plugin.hpp>
//   ROT_PLUGIN(p) {
//       p.module("math").def("add", [](std::int64_t a, std::int64_t b) { return a + b; });
//   }
//
// and load it with node.load_module(path), rotsh's load_module(Path) or a
// config's [modules] load. The load is all or nothing: if any module the
// plugin defines already exists on the node, nothing is registered.

#include <rot/registry.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rot {

/// Bumped when the entry point's contract changes; the loader refuses others.
inline constexpr int plugin_abi_version = 1;

/// What a plugin's entry point fills in.
class plugin {
public:
    plugin();
    ~plugin();
    plugin(const plugin&) = delete;
    plugin& operator=(const plugin&) = delete;

    /// A module to define; it must not exist on the node yet.
    [[nodiscard]] module_builder module(std::string_view name);

    detail::registry& staged() noexcept { return *staged_; }

private:
    std::unique_ptr<detail::registry> staged_;
};

}  // namespace rot

#define ROT_PLUGIN(param)                                                                     \
    extern "C" __attribute__((visibility("default"))) const int rot_plugin_abi =            \
        ::rot::plugin_abi_version;                                                          \
    extern "C" __attribute__((visibility("default"))) void rot_plugin_init(::rot::plugin& param)
