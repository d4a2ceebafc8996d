#include "sip/edit.hpp"

#include <algorithm>
#include <cstring>

namespace rtfarm::sip {

Status EditList::insert(uint32_t at, std::string_view text) {
    return add(at, 0, text);
}

Status EditList::erase(Span span) {
    if (!span.present())
        return make_error(edit_error::ABSENT, "erase of an absent span");
    if (span.len == 0)
        return {};
    return add(span.off, span.len, {});
}

Status EditList::replace(Span span, std::string_view text) {
    if (!span.present())
        return make_error(edit_error::ABSENT, "replace of an absent span");
    return add(span.off, span.len, text);
}

void EditList::clear() {
    m_more.clear();
    m_count = 0;
    m_text_more.clear();
    m_text_used = 0;
    m_spilled_text = false;
}

Status EditList::add(uint32_t off, uint32_t len, std::string_view text) {
    uint64_t end = static_cast<uint64_t>(off) + len;
    if (end > UINT32_MAX || text.size() > UINT32_MAX)
        return make_error(edit_error::OUT_OF_RANGE, "edit beyond 4 GiB");
    // Where the new edit goes: after everything that starts before it, after
    // insertions at the same offset, and (for an insertion) before a range
    // starting there.
    const Edit* list = edits();
    size_t pos = 0;
    for (size_t i = 0; i < m_count; ++i) {
        const Edit& e = list[i];
        uint64_t e_end = static_cast<uint64_t>(e.off) + e.len;
        bool clash = false;
        if (len > 0 && e.len > 0)
            clash = off < e_end && e.off < end;
        else if (len > 0)
            clash = off < e.off && e.off < end;
        else if (e.len > 0)
            clash = e.off < off && off < e_end;
        if (clash)
            return make_error(edit_error::OVERLAP,
                              "edit at " + std::to_string(off) + "+" + std::to_string(len) +
                                  " overlaps the edit at " + std::to_string(e.off) + "+" +
                                  std::to_string(e.len));
        if (e.off < off || (e.off == off && (e.len == 0 || len > 0)))
            pos = i + 1;
    }

    Edit edit;
    edit.off = off;
    edit.len = len;
    edit.text_len = static_cast<uint32_t>(text.size());
    if (!m_spilled_text && m_text_used + text.size() > INLINE_TEXT) {
        m_text_more.assign(m_text.data(), m_text_used);
        m_spilled_text = true;
    }
    edit.text_off = static_cast<uint32_t>(m_text_used);
    if (m_spilled_text)
        m_text_more.append(text);
    else if (!text.empty())
        std::memcpy(m_text.data() + m_text_used, text.data(), text.size());
    m_text_used += text.size();

    if (m_more.empty() && m_count == INLINE_EDITS)
        m_more.assign(m_inline.begin(), m_inline.end());
    if (!m_more.empty()) {
        m_more.insert(m_more.begin() + static_cast<std::ptrdiff_t>(pos), edit);
    } else {
        std::copy_backward(m_inline.begin() + static_cast<std::ptrdiff_t>(pos),
                           m_inline.begin() + static_cast<std::ptrdiff_t>(m_count),
                           m_inline.begin() + static_cast<std::ptrdiff_t>(m_count + 1));
        m_inline[pos] = edit;
    }
    ++m_count;
    return {};
}

std::optional<size_t> EditList::edited_size(std::string_view original) const {
    size_t size = original.size();
    const Edit* list = edits();
    for (size_t i = 0; i < m_count; ++i) {
        const Edit& e = list[i];
        if (static_cast<size_t>(e.off) + e.len > original.size())
            return std::nullopt;
        size = size - e.len + e.text_len;
    }
    return size;
}

size_t EditList::apply(std::string_view original, char* out, size_t capacity) const {
    std::optional<size_t> total = edited_size(original);
    if (!total || *total > capacity)
        return 0;
    return write(original, out);
}

size_t EditList::write(std::string_view original, char* out) const {
    const Edit* list = edits();
    const char* text = text_base();
    size_t pos = 0, w = 0;
    auto put = [&](const char* from, size_t n) {
        if (n > 0)
            std::memcpy(out + w, from, n);
        w += n;
    };
    for (size_t i = 0; i < m_count; ++i) {
        const Edit& e = list[i];
        put(original.data() + pos, e.off - pos);
        put(text + e.text_off, e.text_len);
        pos = static_cast<size_t>(e.off) + e.len;
    }
    put(original.data() + pos, original.size() - pos);
    return w;
}

std::string EditList::apply(std::string_view original) const {
    std::optional<size_t> total = edited_size(original);
    if (!total)
        return {};
    std::string out(*total, '\0');
    out.resize(write(original, out.data()));
    return out;
}

Result<std::string> EditList::edited(std::string_view original) const {
    std::optional<size_t> total = edited_size(original);
    if (!total)
        return make_error("edit_clash", "an edit lies beyond the message's " +
                                            std::to_string(original.size()) + " bytes");
    std::string out(*total, '\0');
    out.resize(write(original, out.data()));
    return out;
}

} // namespace rtfarm::sip
