#include "out_queue.hpp"

#include <algorithm>

#include "frame.hpp"

namespace rot::detail {

void out_queue::clear() noexcept {
    bytes.clear();
    spliced.items.clear();
    spliced.bytes = 0;
}

void out_queue::swap(out_queue& other) noexcept {
    bytes.swap(other.bytes);
    spliced.items.swap(other.spliced.items);
    std::swap(spliced.bytes, other.spliced.bytes);
}

void out_queue::truncate(mark m) {
    bytes.resize(m.bytes);
    spliced.truncate(m.items);
}

void out_queue::pieces(const std::function<void(const std::uint8_t*, std::size_t)>& f, std::size_t max) const {
    std::size_t pos = 0;
    std::size_t count = 0;
    for (const auto& item : spliced.items) {
        if (item.at > pos) {
            f(bytes.data() + pos, item.at - pos);
            if (++count == max) return;
        }
        f(item.bytes.data(), item.bytes.size());
        if (++count == max) return;
        pos = item.at;
    }
    if (bytes.size() > pos) f(bytes.data() + pos, bytes.size() - pos);
}

void out_queue::advance(cursor& c, std::size_t n) const {
    while (n > 0) {
        const std::size_t next = c.item < spliced.items.size() ? spliced.items[c.item].at : bytes.size();
        const std::size_t run = std::min(n, next - c.pos);
        c.pos += run;
        n -= run;
        if (n == 0 || c.item == spliced.items.size()) break;  // (past the end: nothing to walk)
        // At a splice, which the rest covers whole (frames hold whole binaries).
        n -= std::min(n, spliced.items[c.item].bytes.size());
        ++c.item;
    }
}

void out_queue::consume(std::size_t n) {
    cursor c;
    std::size_t partial = 0;  // bytes written of the binary at c.item
    while (n > 0) {
        const std::size_t next = c.item < spliced.items.size() ? spliced.items[c.item].at : bytes.size();
        const std::size_t run = std::min(n, next - c.pos);
        c.pos += run;
        n -= run;
        if (n == 0 || c.item == spliced.items.size()) break;
        const std::size_t size = spliced.items[c.item].bytes.size();
        if (n < size) {
            partial = n;
            break;
        }
        n -= size;
        ++c.item;
    }
    bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(c.pos));
    spliced.items.erase(spliced.items.begin(), spliced.items.begin() + static_cast<std::ptrdiff_t>(c.item));
    if (partial > 0) spliced.items.front().bytes = spliced.items.front().bytes.slice(partial);
    spliced.bytes = 0;
    for (auto& item : spliced.items) {
        item.at -= c.pos;
        spliced.bytes += item.bytes.size();
    }
}

out_queue out_queue::filter_frames(std::size_t from,
                                   const std::function<bool(std::span<const std::uint8_t>)>& f) const {
    out_queue kept;
    cursor c;
    advance(c, from);
    kept.bytes.assign(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(c.pos));
    for (std::size_t i = 0; i < c.item; ++i) kept.spliced.add(spliced.items[i].at, spliced.items[i].bytes);
    while (c.pos + frame_header_bytes <= bytes.size()) {
        cursor end = c;
        advance(end, frame_header_bytes + frame_length(bytes.data() + c.pos));
        const std::size_t visible = end.item > c.item ? spliced.items[c.item].at : end.pos;
        if (f({bytes.data() + c.pos, visible - c.pos})) {
            const std::size_t base = kept.bytes.size();
            kept.bytes.insert(kept.bytes.end(), bytes.begin() + static_cast<std::ptrdiff_t>(c.pos),
                              bytes.begin() + static_cast<std::ptrdiff_t>(end.pos));
            for (std::size_t i = c.item; i < end.item; ++i)
                kept.spliced.add(base + spliced.items[i].at - c.pos, spliced.items[i].bytes);
        }
        c = end;
    }
    return kept;
}

std::size_t out_queue::frames_end(std::size_t from, std::size_t n) const {
    if (spliced.items.empty()) {  // the common case: stream and bytes are one
        std::size_t at = from;
        while (at < n && at + frame_header_bytes <= bytes.size())
            at += frame_header_bytes + frame_length(bytes.data() + at);
        return at;
    }
    cursor c;
    advance(c, from);
    std::size_t at = from;
    while (at < n && c.pos + frame_header_bytes <= bytes.size()) {
        const std::size_t size = frame_header_bytes + frame_length(bytes.data() + c.pos);
        advance(c, size);
        at += size;
    }
    return at;
}

}  // namespace rot::detail
