#include "format.hpp"

#include <algorithm>
#include <iterator>
#include <stdexcept>

namespace rotsh {

using rot::kind;
using rot::term;

namespace {

// --- Wrapping ------------------------------------------------------------------------

bool breakable(const term& t) {
    switch (t.type()) {
        case kind::tuple: return !t.as_tuple().empty();
        case kind::list: return !t.as_list().empty();
        case kind::map: return !t.as_map().empty();
        default: return false;
    }
}

// The columns t needs at the least, broken as far as it can be: its widest
// unbreakable part, the brackets opened before it and closed after it.
std::size_t need(const term& t) {
    if (!breakable(t)) return rot::to_string(t).size();
    std::size_t widest = 0;
    if (t.is_map()) {
        for (const auto& [key, value] : t.as_map())
            widest = std::max(widest, rot::to_string(key).size() + 4 + need(value));  // "Key => "
        return widest + 3;  // "#{" and "}"
    }
    for (const auto& x : t.is_tuple() ? t.as_tuple() : t.as_list()) widest = std::max(widest, need(x));
    return widest + 2;
}

class wrapper {
public:
    explicit wrapper(std::size_t width) : width_(width) {}

    std::string run(const term& t) {
        print(t, 0, 0);
        return std::move(out_);
    }

private:
    // t from column `column`, followed on its last line by `trail` more
    // characters (the commas and closing brackets of what contains it).
    void print(const term& t, std::size_t column, std::size_t trail) {
        const std::string flat = rot::to_string(t);
        if (column + flat.size() + trail <= width_ || !breakable(t)) {
            out_ += flat;
            return;
        }
        switch (t.type()) {
            case kind::tuple: sequence(t.as_tuple(), "{", "}", column, trail); break;
            case kind::list: sequence(t.as_list(), "[", "]", column, trail); break;
            default: map(t.as_map(), column, trail); break;
        }
    }

    void new_line(std::size_t column) {
        out_ += '\n';
        out_.append(column, ' ');
    }

    // Elements that cannot be broken fill each line, as ~p packs a long list
    // of numbers; otherwise each element gets a line of its own. A tagged
    // tuple, {ok, ...}, keeps its tag on the first line and aligns the rest
    // after it, where the rest still fits beside it.
    void sequence(const std::vector<term>& items, std::string_view open, std::string_view close,
                  std::size_t column, std::size_t trail) {
        out_ += open;
        std::size_t indent = column + open.size();
        std::size_t first = 0;
        if (open == "{" && items.size() > 1 && items[0].is_atom()) {
            const std::string tag = rot::to_string(items[0]);
            std::size_t rest = 0;
            for (std::size_t i = 1; i < items.size(); ++i) rest = std::max(rest, need(items[i]));
            if (indent + tag.size() + 1 + rest + close.size() + trail <= width_) {
                out_ += tag;
                out_ += ',';
                indent += tag.size() + 1;
                first = 1;
            }
        }
        const bool packed = std::none_of(items.begin() + static_cast<std::ptrdiff_t>(first), items.end(), breakable);
        std::size_t at = indent;
        for (std::size_t i = first; i < items.size(); ++i) {
            const bool last = i + 1 == items.size();
            const std::size_t after = last ? close.size() + trail : 1;
            if (packed) {
                const std::string flat = rot::to_string(items[i]);
                if (i > first && at + flat.size() + after > width_) {
                    new_line(indent);
                    at = indent;
                }
                out_ += flat;
                at += flat.size() + 1;
            } else {
                if (i > first) new_line(indent);
                print(items[i], indent, after);
            }
            if (!last) out_ += ',';
        }
        out_ += close;
    }

    // One entry a line, each value aligned after its "Key => ".
    void map(const term::map_type& entries, std::size_t column, std::size_t trail) {
        out_ += "#{";
        const std::size_t inner = column + 2;
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const bool last = i + 1 == entries.size();
            if (i > 0) new_line(inner);
            const std::string key = rot::to_string(entries[i].first);
            out_ += key;
            out_ += " => ";
            print(entries[i].second, inner + key.size() + 4, last ? trail + 1 : 1);
            if (!last) out_ += ',';
        }
        out_ += '}';
    }

    std::size_t width_;
    std::string out_;
};

// --- JSON -------------------------------------------------------------------------------

void json_string(std::string_view s, std::string& out) {
    out += '"';
    for (const char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<int>(c));
                else out += c;
        }
    }
    out += '"';
}

std::string base64(const rot::binary& bytes) {
    static constexpr std::string_view digits =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t v = static_cast<std::uint32_t>(bytes[i]) << 16;
        if (n > 1) v |= static_cast<std::uint32_t>(bytes[i + 1]) << 8;
        if (n > 2) v |= bytes[i + 2];
        for (std::size_t k = 0; k < 4; ++k) out += k <= n ? digits[(v >> (18 - 6 * k)) & 0x3F] : '=';
    }
    return out;
}

// A binary is text for JSON when it is valid UTF-8, which is what a string
// term must be: the term's own check decides.
bool is_utf8(const rot::binary& bytes) {
    try {
        (void)term(std::string(bytes.begin(), bytes.end()));
        return true;
    } catch (const std::invalid_argument&) {
        return false;
    }
}

// JSON object keys are strings: atoms and strings give their text, other
// keys their term text.
std::string key_text(const term& key) {
    if (key.is_atom()) return key.atom_name();
    if (key.is_string()) return key.as_string();
    return rot::to_string(key);
}

void json(const term& t, std::string& out) {
    const auto array = [&](const std::vector<term>& items) {
        out += '[';
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i > 0) out += ',';
            json(items[i], out);
        }
        out += ']';
    };
    switch (t.type()) {
        case kind::integer: fmt::format_to(std::back_inserter(out), "{}", t.as_int()); break;
        case kind::floating: fmt::format_to(std::back_inserter(out), "{}", t.as_float()); break;
        case kind::atom:
            if (t.is_atom("true") || t.is_atom("false")) out += t.atom_name();
            else json_string(t.atom_name(), out);
            break;
        case kind::string: json_string(t.as_string(), out); break;
        case kind::binary: {
            const auto& b = t.as_binary();
            if (is_utf8(b)) {
                json_string(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), out);
            } else {
                out += R"({"$binary":")";
                out += base64(b);
                out += "\"}";
            }
            break;
        }
        case kind::list: array(t.as_list()); break;
        case kind::tuple: array(t.as_tuple()); break;
        case kind::map: {
            out += '{';
            const auto& entries = t.as_map();
            for (std::size_t i = 0; i < entries.size(); ++i) {
                if (i > 0) out += ',';
                json_string(key_text(entries[i].first), out);
                out += ':';
                json(entries[i].second, out);
            }
            out += '}';
            break;
        }
    }
}

}  // namespace

std::string pretty(const term& t, std::size_t width) {
    if (width == 0) return rot::to_string(t);
    return wrapper(width).run(t);
}

std::string to_json(const term& t) {
    std::string out;
    json(t, out);
    return out;
}

std::string json_error(std::string_view kind, std::string_view message) {
    std::string out = R"({"error":{"kind":)";
    json_string(kind, out);
    out += R"(,"message":)";
    json_string(message, out);
    out += "}}";
    return out;
}

}  // namespace rotsh
