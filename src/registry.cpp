#include "registry.hpp"

#include <mutex>

#include <fmt/format.h>

namespace rot {

module_builder& module_builder::def_native(std::string_view function, std::size_t arity,
                                           detail::native_function fn) {
    registry_->add(name_, function, arity, std::move(fn));
    return *this;
}

namespace detail {

void rethrow_badarg_at(std::size_t i, const rot::error& e) {
    if (e.code() != make_error_code(errc::badarg)) throw e;
    throw rot::error(errc::badarg, fmt::format("argument {}: {}", i + 1, e.message()));
}

std::string undef_message(std::string_view module, std::string_view function, std::size_t arity) {
    return fmt::format("undefined function {}:{}/{}", module, function, arity);
}

void registry::add(std::string_view module, std::string_view function, std::size_t arity,
                   native_function fn) {
    if (module.empty() || module.size() > 255 || function.empty() || function.size() > 255)
        throw error(errc::invalid_argument, "module and function names must be 1 to 255 bytes");
    if (!fn) throw error(errc::invalid_argument, "empty function");
    std::unique_lock lock(mutex_);
    auto& fns = modules_.try_emplace(std::string(module)).first->second;
    const auto [it, added] = fns.try_emplace({std::string(function), arity},
                                             std::make_shared<const native_function>(std::move(fn)));
    if (!added)
        throw error(errc::already_exists, fmt::format("{}:{}/{} is already defined", module, function, arity));
}

void registry::add_module(std::string_view module) {
    if (module.empty() || module.size() > 255)
        throw error(errc::invalid_argument, "module names must be 1 to 255 bytes");
    std::unique_lock lock(mutex_);
    if (!modules_.try_emplace(std::string(module)).second)
        throw error(errc::already_exists, fmt::format("module {} already exists", module));
}

void registry::absorb(registry&& other) {
    std::scoped_lock lock(mutex_, other.mutex_);
    for (const auto& [name, fns] : other.modules_)
        if (modules_.count(name)) throw error(errc::already_exists, fmt::format("module {} already exists", name));
    modules_.merge(other.modules_);
}

bool registry::has_module(std::string_view module) const {
    std::shared_lock lock(mutex_);
    return modules_.find(module) != modules_.end();
}

std::vector<std::string> registry::modules() const {
    std::shared_lock lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [name, fns] : modules_) out.push_back(name);
    return out;
}

std::optional<std::vector<std::pair<std::string, std::size_t>>> registry::exports(
    std::string_view module) const {
    std::shared_lock lock(mutex_);
    const auto it = modules_.find(module);
    if (it == modules_.end()) return std::nullopt;
    std::vector<std::pair<std::string, std::size_t>> out;
    for (const auto& [key, fn] : it->second) out.push_back(key);
    return out;
}

function_ptr registry::find(std::string_view module, std::string_view function, std::size_t arity) const {
    std::shared_lock lock(mutex_);
    const auto m = modules_.find(module);
    if (m == modules_.end()) return nullptr;
    // Keys are (name, arity); compare without building a std::string.
    const auto f = m->second.lower_bound(std::pair<std::string_view, std::size_t>{function, arity});
    if (f == m->second.end() || f->first.first != function || f->first.second != arity) return nullptr;
    return f->second;
}

result<registry::target> registry::resolve(std::string_view jail, std::string_view module,
                                           std::string_view function, std::size_t arity) const {
    const std::string_view m = jail.empty() ? module : jail;
    if (m.empty())
        return failure{make_error_code(errc::bad_request),
                       fmt::format("{{{}, Args}} names no module and no jail applies here; "
                                   "give {{Module, {}, Args}}",
                                   function, function)};
    auto fn = find(m, function, arity);
    if (!fn) return failure{make_error_code(errc::undef), undef_message(m, function, arity)};
    return target{std::move(fn), m};
}

result<term> registry::invoke(const native_function& fn, std::span<term> args,
                              std::string_view module, std::string_view function) {
    const auto where = [&] { return fmt::format("{}:{}/{}", module, function, args.size()); };
    try {
        return fn(args);
    } catch (const rot::error& e) {
        const errc code = e.code() == make_error_code(errc::badarg) ? errc::badarg : errc::exception;
        const char* what = code == errc::badarg ? "bad argument in" : "exception in";
        return failure{make_error_code(code), fmt::format("{} {}: {}", what, where(), e.message())};
    } catch (const std::exception& e) {
        return failure{make_error_code(errc::exception), fmt::format("exception in {}: {}", where(), e.what())};
    } catch (...) {
        return failure{make_error_code(errc::exception),
                       fmt::format("exception in {}: unknown C++ exception", where())};
    }
}

}  // namespace detail
}  // namespace rot
