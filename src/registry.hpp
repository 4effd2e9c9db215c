#pragma once
// The functions a node exports, by module, function and arity.

#include <rot/registry.hpp>

#include <map>
#include <optional>
#include <string_view>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

namespace rot::detail {

using function_ptr = std::shared_ptr<const native_function>;

class registry {
public:
    /// Exports module:function/arity; throws already_exists if it is there.
    void add(std::string_view module, std::string_view function, std::size_t arity, native_function fn);
    /// Creates an empty module; throws already_exists if the name is taken.
    void add_module(std::string_view module);
    [[nodiscard]] bool has_module(std::string_view module) const;
    /// Moves every module of `other` here, all or nothing: throws
    /// already_exists (and moves nothing) if any of them is here already.
    void absorb(registry&& other);
    [[nodiscard]] std::vector<std::string> modules() const;
    /// [{Function, Arity}] of a module, sorted; nullopt when no such module.
    [[nodiscard]] std::optional<std::vector<std::pair<std::string, std::size_t>>> exports(
        std::string_view module) const;
    /// The function, or nullptr.
    [[nodiscard]] function_ptr find(std::string_view module, std::string_view function,
                                    std::size_t arity) const;

    /// Where a call or cast goes. A jail, when set, replaces the module named
    /// in the request, and is applied before the arguments are decoded. The
    /// failure (bad_request, undef) is what the caller gets back.
    struct target {
        function_ptr fn;
        std::string_view module;
    };
    [[nodiscard]] result<target> resolve(std::string_view jail, std::string_view module,
                                         std::string_view function, std::size_t arity) const;

    /// Runs fn on decoded arguments; a handler's exception becomes a failure
    /// naming module:function/arity.
    [[nodiscard]] static result<term> invoke(const native_function& fn, std::span<term> args,
                                             std::string_view module, std::string_view function);

private:
    // Ordered by (name, arity), searchable by a string_view name without a copy.
    struct key_less {
        using is_transparent = void;
        template <class A, class B>
        bool operator()(const A& a, const B& b) const {
            const int c = std::string_view(a.first).compare(std::string_view(b.first));
            return c < 0 || (c == 0 && a.second < b.second);
        }
    };
    using functions = std::map<std::pair<std::string, std::size_t>, function_ptr, key_less>;
    mutable std::shared_mutex mutex_;
    std::map<std::string, functions, std::less<>> modules_;
};

/// "undefined function math:add/3", as Erlang says it.
[[nodiscard]] std::string undef_message(std::string_view module, std::string_view function, std::size_t arity);

}  // namespace rot::detail
