// What both sides share: the payloads every answer is checked against.

#include "bench.hpp"

#include <algorithm>

namespace rotbench {

payload_maker::payload_maker(std::size_t size) : pattern_(size) {
    for (std::size_t i = 0; i < size; ++i) pattern_[i] = static_cast<std::uint8_t>(i * 31 + 7);
}

void payload_maker::append(std::uint64_t seq, std::vector<std::uint8_t>& out) const {
    const std::size_t at = out.size();
    out.insert(out.end(), pattern_.begin(), pattern_.end());
    // Little-endian seq over the first bytes (fewer when the payload is short).
    for (std::size_t i = 0; i < std::min<std::size_t>(8, pattern_.size()); ++i)
        out[at + i] = static_cast<std::uint8_t>(seq >> (8 * i));
}

std::vector<std::uint8_t> payload_maker::make(std::uint64_t seq) const {
    std::vector<std::uint8_t> out;
    out.reserve(pattern_.size());
    append(seq, out);
    return out;
}

bool payload_maker::matches(std::uint64_t seq, std::span<const std::uint8_t> bytes) const {
    if (bytes.size() != pattern_.size()) return false;
    const std::size_t head = std::min<std::size_t>(8, bytes.size());
    for (std::size_t i = 0; i < head; ++i)
        if (bytes[i] != static_cast<std::uint8_t>(seq >> (8 * i))) return false;
    return std::equal(bytes.begin() + head, bytes.end(), pattern_.begin() + head);
}

std::size_t frame_limit_for(std::size_t payload) {
    return std::max<std::size_t>(4u << 20, payload + (64u << 10));
}

}  // namespace rotbench
