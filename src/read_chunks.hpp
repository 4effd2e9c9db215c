#pragma once
// Read buffers of one connection, lent out and taken back. A chunk that
// holds a request on the pool or a binary someone kept is never written
// again while they hold it (connection.hpp); once the last holder lets go,
// from whatever thread, the chunk comes back here to be read into again.
// Freeing it instead would hand the memory back to the system, which zeroes
// it page by page when it is taken again: in a stream of 64 KiB frames that
// cost more than the copies the chunks replace.

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace rot::detail {

class read_chunks : public std::enable_shared_from_this<read_chunks> {
public:
    struct chunk {
        std::shared_ptr<const void> owner;  ///< its holders share this
        std::uint8_t* data = nullptr;
        std::size_t size = 0;
    };

    /// At most this many bytes wait here to be used again.
    static constexpr std::size_t keep_bytes = 1u << 20;
    static constexpr std::size_t max_chunks = 16;

    /// A chunk of `size` bytes or a little more (a kept one, when one fits).
    [[nodiscard]] chunk take(std::size_t size) {
        std::unique_ptr<std::uint8_t[]> bytes;
        std::size_t capacity = 0;
        {
            std::lock_guard lock(mutex_);
            for (auto it = free_.begin(); it != free_.end(); ++it) {
                if (it->size >= size && it->size <= 2 * size) {
                    bytes = std::move(it->bytes);
                    capacity = it->size;
                    kept_ -= capacity;
                    free_.erase(it);
                    break;
                }
            }
        }
        if (!bytes) {
            bytes.reset(new std::uint8_t[size]);  // not zeroed: it is read into
            capacity = size;
        }
        std::uint8_t* data = bytes.get();
        std::shared_ptr<const void> owner(bytes.release(), [self = shared_from_this(), capacity](const void* p) {
            self->give_back(static_cast<std::uint8_t*>(const_cast<void*>(p)), capacity);
        });
        return {std::move(owner), data, capacity};
    }

    /// The bytes waiting here.
    [[nodiscard]] std::size_t kept() const {
        std::lock_guard lock(mutex_);
        return kept_;
    }
    /// Frees what waits here (a connection gone quiet).
    void clear() {
        std::vector<free_chunk> dropped;  // freed after the lock
        std::lock_guard lock(mutex_);
        dropped.swap(free_);
        kept_ = 0;
    }

private:
    void give_back(std::uint8_t* p, std::size_t size) {
        std::vector<free_chunk> dropped;  // freed after the lock
        std::lock_guard lock(mutex_);
        free_.push_back({std::unique_ptr<std::uint8_t[]>(p), size});
        kept_ += size;
        // The oldest go first: sizes no longer asked for make way.
        while (kept_ > keep_bytes || free_.size() > max_chunks) {
            kept_ -= free_.front().size;
            dropped.push_back(std::move(free_.front()));
            free_.erase(free_.begin());
        }
    }

    struct free_chunk {
        std::unique_ptr<std::uint8_t[]> bytes;
        std::size_t size;
    };
    mutable std::mutex mutex_;
    std::vector<free_chunk> free_;
    std::size_t kept_ = 0;
};

}  // namespace rot::detail
