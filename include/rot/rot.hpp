#pragma once
// The whole of rot, but for rot/async.hpp (which brings in Asio).

#include <rot/api.hpp>
#include <rot/convert.hpp>
#include <rot/error.hpp>
#include <rot/node.hpp>
#include <rot/options.hpp>
#include <rot/registry.hpp>
#include <rot/term.hpp>
