#pragma once
// Describing a node in a TOML file (the format is in README.md, "Configuration").
// The loader yields the same option structs the C++ API takes.

#include <rot/options.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace rot {

/// One [[connect]] entry: connect(host, options, connections).
struct connect_spec {
    std::string host = "127.0.0.1";
    connect_options options{};
    std::size_t connections = 4;
    /// A linked pool is kept up (connect_options::supervise, Erlang's
    /// connect_link): connections lost are dialed again with backoff. With
    /// options.server set it may start before its server.
    bool link = false;
    /// The cookie in options came from cookie_file (not written in the config).
    bool cookie_from_file = false;
};

struct config {
    node_options node{};
    std::vector<server_options> servers{};
    std::vector<connect_spec> connects{};
    /// [modules] load: plugin paths; relative ones are resolved against the
    /// config file's directory when such a file exists, else left as given.
    std::vector<std::filesystem::path> modules{};
    /// [log] level: debug, info, warning, error or none.
    std::string log_level = "warning";
};

/// Reads and checks a config file. Throws rot::error(errc::invalid_argument)
/// whose message names the file, the line and the key ("a.toml:7: server[0].port: ...";
/// arrays of tables count from 0).
[[nodiscard]] config load_config(const std::filesystem::path& path);
/// The same from text; `source` names it in messages and anchors relative paths.
[[nodiscard]] config parse_config(std::string_view text, const std::filesystem::path& source);

}  // namespace rot
