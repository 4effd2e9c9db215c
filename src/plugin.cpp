// Loading plugin modules with dlopen.

#include <rot/plugin.hpp>

#include <dlfcn.h>

#include <cstdlib>
#include <string_view>

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

namespace {

/// Where a relative module path is looked for when the working directory
/// does not have it: ROT_MODULE_PATH's directories, then the program's own
/// directory and its ../lib/rot (where rotsh and its modules are installed).
std::vector<std::filesystem::path> module_dirs() {
    std::vector<std::filesystem::path> dirs;
    if (const char* env = std::getenv("ROT_MODULE_PATH")) {
        std::string_view rest(env);
        while (!rest.empty()) {
            const auto colon = rest.find(':');
            if (const auto dir = rest.substr(0, colon); !dir.empty()) dirs.emplace_back(dir);
            rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
        }
    }
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        dirs.push_back(exe.parent_path());
        dirs.push_back(exe.parent_path().parent_path() / "lib" / "rot");
    }
    return dirs;
}

/// The file to dlopen, as an absolute path: dlopen takes a bare file name
/// for a library to search the system's library path for.
std::filesystem::path find_module(const std::filesystem::path& path) {
    std::error_code ec;
    if (path.is_absolute()) return path;
    if (std::filesystem::exists(path, ec)) return std::filesystem::absolute(path, ec);
    for (const auto& dir : module_dirs())
        if (std::filesystem::exists(dir / path, ec)) return std::filesystem::absolute(dir / path, ec);
    return path;
}

}  // namespace

result<std::vector<std::string>> node_impl::load_module(const std::filesystem::path& asked) {
    const auto fail = [&](errc code, std::string_view why) -> result<std::vector<std::string>> {
        return failure{make_error_code(code), fmt::format("cannot load module {}: {}", asked.string(), why)};
    };
    const auto path = find_module(asked);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        if (asked.is_absolute()) return fail(errc::invalid_argument, "no such file");
        std::string where = "the working directory";
        for (const auto& dir : module_dirs()) where += ", " + dir.string();
        return fail(errc::invalid_argument, fmt::format("no such file in {}", where));
    }
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
