// EditList: the changes a proxy makes to a scanned SIP message (add a Via, a
// Record-Route, pop a Route, rewrite Max-Forwards), kept as a list of
// insertions, erasures and replacements at offsets of the original bytes and
// applied once, while writing the outgoing datagram. The
// original buffer is never modified.
//
// Rules: edits may be added in any order; they must not overlap (an erased
// or replaced range may not intersect another one, and an insertion may not
// fall strictly inside one), else the call returns the error "overlap" and
// the list is unchanged. Insertions at the same offset come out in the order
// they were added, and before a range erased or replaced from that offset.
// The texts are copied into the list (1 KiB inline, then the heap), so the
// caller's strings need not outlive it; up to 16 edits are held inline.
//
// It deliberately does not: parse anything, check that the result is valid
// SIP (fix Content-Length yourself if you touch the body), or know what the
// offsets mean.
#pragma once

#include "base/result.hpp"
#include "sip/scanner.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::sip {

namespace edit_error {
inline constexpr const char* OVERLAP = "overlap";           // intersects an edit already listed
inline constexpr const char* ABSENT = "absent";             // erase/replace of an absent Span
inline constexpr const char* OUT_OF_RANGE = "out_of_range"; // offset + length overflows
} // namespace edit_error

class EditList {
public:
    // Edits held without allocating; more spill to the heap.
    static constexpr size_t INLINE_EDITS = 16;
    // Bytes of inserted or replacing text held without allocating.
    static constexpr size_t INLINE_TEXT = 1024;

    // Inserts text before the original byte at `at` (at == size appends).
    Status insert(uint32_t at, std::string_view text);
    // Removes the bytes of span. An empty span is accepted and changes nothing.
    Status erase(Span span);
    // Replaces the bytes of span with text (an empty span inserts).
    Status replace(Span span, std::string_view text);

    void clear();
    size_t size() const { return m_count; }
    bool empty() const { return m_count == 0; }

    // Bytes of the edited message; nullopt when an edit lies beyond
    // `original` (the edits were made for another buffer: a caller bug).
    std::optional<size_t> edited_size(std::string_view original) const;
    // Writes the edited message to out and returns its size; 0 when it does
    // not fit in capacity or an edit lies beyond `original`.
    size_t apply(std::string_view original, char* out, size_t capacity) const;
    // The same into a string (tests, logs); empty on the errors above.
    std::string apply(std::string_view original) const;
    // The edited message to send: error "edit_clash" when an edit lies
    // beyond `original`, where apply() would give an empty datagram.
    Result<std::string> edited(std::string_view original) const;

private:
    // Writes the edited message, whose size edited_size() gave, to out.
    size_t write(std::string_view original, char* out) const;

    struct Edit {
        uint32_t off = 0;
        uint32_t len = 0; // 0: an insertion
        uint32_t text_off = 0;
        uint32_t text_len = 0;
    };

    Status add(uint32_t off, uint32_t len, std::string_view text);
    const Edit* edits() const { return m_more.empty() ? m_inline.data() : m_more.data(); }
    const char* text_base() const { return m_spilled_text ? m_text_more.data() : m_text.data(); }

    std::array<Edit, INLINE_EDITS> m_inline{};
    std::vector<Edit> m_more; // all edits once there are more than INLINE_EDITS
    size_t m_count = 0;
    std::array<char, INLINE_TEXT> m_text{};
    std::string m_text_more; // all text once it outgrows m_text
    size_t m_text_used = 0;
    bool m_spilled_text = false;
};

} // namespace rtfarm::sip
