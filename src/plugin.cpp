// Loading plugin modules with dlopen.

#include <rot/plugin.hpp>

#include <dlfcn.h>

#include "node_impl.hpp"

namespace rot {

plugin::plugin() : staged_(std::make_unique<detail::registry>()) {}
plugin::~plugin() = default;

module_builder plugin::module(std::string_view name) {
    if (name.empty() || name.size() > 255) throw error(errc::invalid_argument, "module names must be 1 to 255 bytes");
    staged_->add_module(name);
    return module_builder(*staged_, std::string(name));
}

namespace detail {

result<std::vector<std::string>> node_impl::load_module(const std::filesystem::path& path) {
    const auto fail = [&](errc code, std::string_view why) -> result<std::vector<std::string>> {
        return failure{make_error_code(code), fmt::format("cannot load module {}: {}", path.string(), why)};
    };
    if (!std::filesystem::exists(path)) return fail(errc::invalid_argument, "no such file");
    // Plugins stay loaded for the life of the process: their code backs
    // functions that calls in flight may still be running.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) return fail(errc::invalid_argument, ::dlerror());
    const auto* abi = static_cast<const int*>(::dlsym(handle, "rot_plugin_abi"));
    auto* init = reinterpret_cast<void (*)(plugin&)>(::dlsym(handle, "rot_plugin_init"));
    if (!init || !abi) return fail(errc::invalid_argument, "no rot_plugin_init entry point (see rot/plugin.hpp)");
    if (*abi != plugin_abi_version)
        return fail(errc::invalid_argument,
                    fmt::format("built for plugin ABI {}, this node speaks {}", *abi, plugin_abi_version));
    plugin p;
    try {
        init(p);
    } catch (const std::exception& e) {
        return fail(errc::exception, fmt::format("its entry point threw: {}", e.what()));
    }
    auto names = p.staged().modules();
    if (names.empty()) return fail(errc::invalid_argument, "it defines no module");
    try {
        functions.absorb(std::move(p.staged()));
    } catch (const rot::error& e) {
        return fail(static_cast<errc>(e.code().value()), e.message());
    }
    return names;
}

}  // namespace detail
}  // namespace rot
