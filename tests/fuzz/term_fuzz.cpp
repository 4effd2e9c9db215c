// libFuzzer target for the two readers of terms, which take hostile input.
//
// The input is tried both ways:
//   - as the binary form: from_binary() must decode or throw rot::error, and a
//     decoded term must survive to_binary -> from_binary and
//     to_string -> parse_term unchanged;
//   - as text: parse_term() must parse or throw rot::error, and a parsed term
//     must print to text that parses back to it.
// Anything else (another exception, a crash, a sanitizer report, a mismatch)
// is a bug. Seeds live in tests/corpus/term/.

#include <rot/error.hpp>
#include <rot/term.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void mismatch(const char* what, const rot::term& t) {
    std::fprintf(stderr, "term_fuzz: %s round trip changed %s\n", what, rot::to_string(t).c_str());
    std::abort();
}

void check_round_trips(const rot::term& t) {
    // Every term a reader accepts must be writable and read back the same; an
    // exception here escapes and libFuzzer reports it.
    if (rot::from_binary(rot::to_binary(t)) != t) mismatch("binary", t);
    const std::string text = rot::to_string(t);
    if (rot::parse_term(text) != t) mismatch("text", t);
    if (rot::to_string(rot::parse_term(text)) != text) mismatch("text (printing)", t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);

    rot::term decoded;
    bool ok = true;
    try {
        decoded = rot::from_binary(bytes);
    } catch (const rot::error&) {
        ok = false;
    }
    if (ok) check_round_trips(decoded);

    rot::term parsed;
    ok = true;
    try {
        parsed = rot::parse_term(std::string_view(reinterpret_cast<const char*>(data), size));
    } catch (const rot::error&) {
        ok = false;
    }
    if (ok) check_round_trips(parsed);
    return 0;
}
