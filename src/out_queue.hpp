#pragma once
// Frames waiting to be written: a stream of bytes with large binaries
// spliced in by reference (codec.hpp, splices), so that they go to the
// socket with scatter/gather from where they are, never copied. Offsets
// here are in the stream ("logical"), unless they say physical (in bytes).
// Not thread-safe: the connection's write lock guards it.

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "codec.hpp"

namespace rot::detail {

class out_queue {
public:
    byte_vector bytes;  ///< the frames, without the spliced binaries
    splices spliced;    ///< what goes between them

    /// Bytes in the stream.
    [[nodiscard]] std::size_t size() const noexcept { return bytes.size() + spliced.bytes; }
    [[nodiscard]] bool empty() const noexcept { return bytes.empty() && spliced.items.empty(); }
    void clear() noexcept;
    void swap(out_queue& other) noexcept;
    /// Appends a whole frame held in one buffer.
    void append(std::span<const std::uint8_t> frame) { bytes.insert(bytes.end(), frame.begin(), frame.end()); }

    /// Where the stream ends now, to truncate() back to (a frame not queued after all).
    struct mark {
        std::size_t bytes = 0;
        std::size_t items = 0;
    };
    [[nodiscard]] mark end_mark() const noexcept { return {bytes.size(), spliced.items.size()}; }
    void truncate(mark m);

    /// The stream's pieces in order, each non-empty, at most `max` of them
    /// (from the start): what a gathering write takes.
    void pieces(const std::function<void(const std::uint8_t*, std::size_t)>& f, std::size_t max) const;
    /// Removes the first `n` bytes of the stream (written); a binary written
    /// in part keeps its rest.
    void consume(std::size_t n);

    /// Walks the whole frames from stream offset `from` (a frame's start) on.
    /// `f` gets the frame's stream size and its bytes up to its first
    /// splice (at least the header, the kind and the id) and says whether
    /// the frame stays. Returns the queue with the first `from` bytes and
    /// the frames that stay.
    [[nodiscard]] out_queue filter_frames(std::size_t from,
                                          const std::function<bool(std::span<const std::uint8_t>)>& f) const;
    /// The stream size of the frames that start within the first `n` bytes,
    /// from stream offset `from` (a frame's start): where the frame that the
    /// first `n` bytes end in ends.
    [[nodiscard]] std::size_t frames_end(std::size_t from, std::size_t n) const;

private:
    /// A position in the stream as (physical offset, index of the next splice).
    struct cursor {
        std::size_t pos = 0;
        std::size_t item = 0;
    };
    /// Advances `c` over `n` stream bytes that hold whole splices.
    void advance(cursor& c, std::size_t n) const;
};

}  // namespace rot::detail
