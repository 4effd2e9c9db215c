#pragma once
// Asynchronous calls in the Asio style: the completion token picks a callback,
// asio::use_future or asio::use_awaitable. Signature: void(std::error_code, rot::term).
// On failure the term is a string holding the message (e.g. the remote
// "undefined function math:add/3"); asio::use_future's future throws a
// rot::error carrying it (with use_awaitable, asio::as_tuple keeps it). The handler runs on its associated
// executor (default: one of the node's I/O threads), never inside async_call.
// A handler on the node's I/O threads must not block (no synchronous call()).

#include <rot/node.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_future.hpp>

#include <future>
#include <memory>

#include <optional>
#include <type_traits>

namespace rot {

namespace detail {
/// The node's I/O threads' io_context, and its executor.
[[nodiscard]] asio::io_context& io_context(node& n);
[[nodiscard]] asio::any_io_executor io_executor(node& n);

template <class Handler, class Executor>
class handler_completion final : public completion {
public:
    // The node keeps its own executor running, so a handler bound to it needs
    // no work guard (and its atomics) per call.
    /// `node_io`: the node's io_context when `ex` is its executor, else null.
    handler_completion(Handler h, const Executor& ex, asio::io_context* node_io)
        : handler_(std::move(h)), executor_(ex), node_io_(node_io) {
        if (!node_io) work_.emplace(asio::make_work_guard(ex));
    }

    // Never called from inside async_call (the node posts immediate
    // failures), so the handler may run at once when already on its executor.
    void complete(std::error_code ec, term value) override {
        if (node_io_ && node_io_->get_executor().running_in_this_thread()) {
            // The common case (a reply read by the node's I/O thread): no
            // type-erased hop through the executor.
            std::move(handler_)(ec, std::move(value));
            return;
        }
        asio::dispatch(executor_, [h = std::move(handler_), ec, v = std::move(value)]() mutable {
            std::move(h)(ec, std::move(v));
        });
        work_.reset();
    }

private:
    Handler handler_;
    Executor executor_;
    asio::io_context* node_io_;
    std::optional<asio::executor_work_guard<Executor>> work_;
};
}  // namespace detail

/// Calls `peer` asynchronously; completes with void(std::error_code, rot::term).
template <class Token>
auto async_call(node& n, std::string_view peer, mfa request, std::chrono::milliseconds timeout,
                Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, term)>(
        [&n](auto handler, std::string peer, const mfa& request, std::chrono::milliseconds timeout) {
            const auto node_ex = detail::io_executor(n);
            auto ex = asio::get_associated_executor(handler, node_ex);
            using done_t = detail::handler_completion<decltype(handler), decltype(ex)>;
            asio::io_context* node_io = nullptr;
            if constexpr (std::is_same_v<decltype(ex), asio::any_io_executor>)
                if (ex == node_ex) node_io = &detail::io_context(n);
            n.async_call_erased(peer, request, timeout,
                                std::make_unique<done_t>(std::move(handler), ex, node_io));
        },
        token, std::string(peer), std::move(request), timeout);
}

/// async_call with the node's default timeout.
template <class Token>
auto async_call(node& n, std::string_view peer, mfa request, Token&& token) {
    return async_call(n, peer, std::move(request), n.options().call_timeout,
                      std::forward<Token>(token));
}

}  // namespace rot

// asio::use_future, keeping the message: the future of an async_call throws
// rot::error (code and message) instead of a bare std::system_error.
template <class Allocator>
class asio::async_result<asio::use_future_t<Allocator>, void(std::error_code, rot::term)> {
public:
    using return_type = std::future<rot::term>;

    template <class Initiation, class... Args>
    static return_type initiate(Initiation&& initiation, asio::use_future_t<Allocator>, Args&&... args) {
        auto promise = std::make_shared<std::promise<rot::term>>();
        auto future = promise->get_future();
        std::forward<Initiation>(initiation)(
            [promise](std::error_code ec, rot::term value) {
                if (!ec) return promise->set_value(std::move(value));
                std::string message = value.is_string() ? value.as_string() : ec.message();
                promise->set_exception(std::make_exception_ptr(rot::error(rot::failure{ec, std::move(message)})));
            },
            std::forward<Args>(args)...);
        return future;
    }
};
