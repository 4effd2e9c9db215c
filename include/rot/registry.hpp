#pragma once
// Exporting C++ functions: node.module("math").def("add", [](std::int64_t a, std::int64_t b) {...}).

#include <rot/error.hpp>
#include <rot/term.hpp>

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace rot {

namespace detail {
class registry;

/// A registered function after type erasure: takes exactly `arity` arguments,
/// which it may move from.
using native_function = std::function<term(std::span<term> args)>;

template <class F>
struct signature : signature<decltype(&F::operator())> {};
template <class R, class... A>
struct signature<R (*)(A...)> {
    using result = R;
    using args = std::tuple<A...>;
};
template <class R, class... A>
struct signature<R(A...)> : signature<R (*)(A...)> {};
template <class C, class R, class... A>
struct signature<R (C::*)(A...) const> : signature<R (*)(A...)> {};
template <class C, class R, class... A>
struct signature<R (C::*)(A...)> : signature<R (*)(A...)> {};
template <class C, class R, class... A>
struct signature<R (C::*)(A...) const noexcept> : signature<R (*)(A...)> {};
template <class C, class R, class... A>
struct signature<R (C::*)(A...) noexcept> : signature<R (*)(A...)> {};
template <class R, class... A>
struct signature<R (*)(A...) noexcept> : signature<R (*)(A...)> {};

[[noreturn]] void rethrow_badarg_at(std::size_t i, const rot::error& e);

/// Argument i as parameter type A. Decoded arguments belong to the call, so
/// by-value parameters are moved out of them, and `const term&` / `const
/// binary&` parameters bind to them without a copy. A conversion failure is
/// a badarg naming the argument's position.
template <class A>
decltype(auto) argument(std::span<term> args, std::size_t i) {
    using T = std::remove_cvref_t<A>;
    constexpr bool by_const_ref = std::is_lvalue_reference_v<A> && std::is_const_v<std::remove_reference_t<A>>;
    try {
        if constexpr (std::is_same_v<T, term>) {
            if constexpr (by_const_ref) return static_cast<const term&>(args[i]);
            else return T(std::move(args[i]));
        } else if constexpr (std::is_same_v<T, binary> && by_const_ref) {
            return static_cast<const binary&>(args[i].as_binary());
        } else if constexpr (std::is_same_v<T, binary>) {
            return T(std::move(args[i]).take_binary());
        } else {
            return T(convert<T>::from_term(args[i]));
        }
    } catch (const rot::error& e) {
        rethrow_badarg_at(i, e);
    }
}

template <class F, class R, class... A, std::size_t... I>
native_function wrap(F f, std::index_sequence<I...>) {
    return [f = std::move(f)](std::span<term> args) mutable -> term {
        if constexpr (std::is_void_v<R>) {
            f(argument<A>(args, I)...);
            return term(atom("ok"));
        } else {
            return term(f(argument<A>(args, I)...));
        }
    };
}

template <class F, class R, class... A>
native_function wrap(F f, std::tuple<A...>*) {
    return wrap<F, R, A...>(std::move(f), std::index_sequence_for<A...>{});
}
}  // namespace detail

/// Registers functions in one module of a node. Cheap to copy; thread-safe.
/// Arguments convert from terms (a wrong type is badarg); the result converts
/// back (void answers `ok`); a handler's exception becomes an error reply.
class module_builder {
public:
    /// Exports `function` with the arity of f's parameter list. Throws
    /// rot::error(errc::already_exists) if function/arity is already there.
    template <class F>
    module_builder& def(std::string_view function, F&& f) {
        using sig = detail::signature<std::remove_cvref_t<F>>;
        using args = typename sig::args;
        return def_native(function, std::tuple_size_v<args>,
                          detail::wrap<std::remove_cvref_t<F>, typename sig::result>(
                              std::forward<F>(f), static_cast<args*>(nullptr)));
    }

    /// Exports a function taking its arguments as terms (which it may move from).
    module_builder& def_native(std::string_view function, std::size_t arity,
                               detail::native_function fn);

    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    module_builder(detail::registry& r, std::string name) : registry_(&r), name_(std::move(name)) {}

private:
    detail::registry* registry_;
    std::string name_;
};

}  // namespace rot
