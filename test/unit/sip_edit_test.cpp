// sip_edit: EditList (sip/edit.hpp): insertions, erasures and replacements
// applied together, the order of insertions at one offset, overlaps refused
// with the list unchanged, the output capacity, the inline-to-heap spill.
#include "sip/edit.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::sip;

BOOST_AUTO_TEST_SUITE(sip_edit)

BOOST_AUTO_TEST_CASE(no_edits_copies) {
    EditList e;
    BOOST_TEST(e.empty());
    BOOST_TEST(e.apply("abcdef") == "abcdef");
    BOOST_TEST(e.edited_size("abcdef").value() == 6u);
    char out[6];
    BOOST_TEST(e.apply("abcdef", out, sizeof out) == 6u);
    BOOST_TEST(std::string(out, 6) == "abcdef");
}

BOOST_AUTO_TEST_CASE(combined_edits_in_any_order) {
    //                   0123456789
    std::string original = "0123456789";
    EditList e;
    BOOST_REQUIRE(e.replace(Span(7, 2), "seven-eight").ok());
    BOOST_REQUIRE(e.insert(0, "<").ok());
    BOOST_REQUIRE(e.erase(Span(2, 3)).ok());
    BOOST_REQUIRE(e.insert(10, ">").ok());
    BOOST_REQUIRE(e.insert(5, "|").ok());
    BOOST_TEST(e.size() == 5u);
    BOOST_TEST(e.apply(original) == "<01|56seven-eight9>");
    BOOST_TEST(e.edited_size(original).value() == 19u);
}

BOOST_AUTO_TEST_CASE(same_offset_order) {
    EditList e;
    BOOST_REQUIRE(e.insert(3, "a").ok());
    BOOST_REQUIRE(e.replace(Span(3, 2), "R").ok());
    BOOST_REQUIRE(e.insert(3, "b").ok());
    BOOST_REQUIRE(e.insert(5, "c").ok()); // at the end of the replaced range: after it
    BOOST_REQUIRE(e.insert(3, "d").ok());
    // Insertions at 3 in the order added, then the replacement of [3, 5).
    BOOST_TEST(e.apply("0123456") == "012abdRc56");
}

BOOST_AUTO_TEST_CASE(empty_spans) {
    EditList e;
    BOOST_TEST(e.erase(Span(2, 0)).ok());
    BOOST_TEST(e.empty());
    BOOST_REQUIRE(e.replace(Span(2, 0), "x").ok()); // an insertion
    BOOST_REQUIRE(e.insert(2, "y").ok());
    BOOST_TEST(e.apply("0123") == "01xy23");
    BOOST_TEST(e.erase(Span()).error().code == "absent");
    BOOST_TEST(e.replace(Span(), "z").error().code == "absent");
    BOOST_TEST(e.size() == 2u);
}

BOOST_AUTO_TEST_CASE(overlap_refused_and_list_unchanged) {
    EditList e;
    BOOST_REQUIRE(e.erase(Span(10, 5)).ok());        // [10, 15)
    BOOST_REQUIRE(e.replace(Span(20, 5), "r").ok()); // [20, 25)
    const std::vector<std::pair<const char*, Status>> refused = {
        {"erase inside", e.erase(Span(11, 2))},
        {"erase over start", e.erase(Span(8, 3))},
        {"erase over end", e.erase(Span(14, 3))},
        {"erase around", e.erase(Span(9, 7))},
        {"same range", e.erase(Span(10, 5))},
        {"replace across both", e.replace(Span(12, 10), "x")},
        {"insert inside erase", e.insert(12, "x")},
        {"insert inside replace", e.insert(24, "x")},
    };
    for (const auto& [what, status] : refused) {
        BOOST_TEST_CONTEXT(what) {
            BOOST_TEST(!status.ok());
            if (!status.ok()) {
                BOOST_TEST(status.error().code == "overlap");
                BOOST_TEST(status.error().message.find("overlaps") != std::string::npos);
            }
        }
    }
    BOOST_TEST(e.size() == 2u);
    std::string original(30, '.');
    BOOST_TEST(e.apply(original) ==
               std::string(10, '.') + std::string(5, '.') + "r" + std::string(5, '.'));
    // Touching ranges and insertions at their edges are fine.
    BOOST_TEST(e.erase(Span(15, 5)).ok());
    BOOST_TEST(e.erase(Span(5, 5)).ok());
    BOOST_TEST(e.insert(10, "a").ok());
    BOOST_TEST(e.insert(25, "b").ok());
    BOOST_TEST(e.apply(original) == std::string(5, '.') + "arb" + std::string(5, '.'));
}

BOOST_AUTO_TEST_CASE(capacity) {
    EditList e;
    BOOST_REQUIRE(e.insert(2, "XYZ").ok());
    std::string original = "abcd";
    char out[16] = {};
    BOOST_TEST(e.apply(original, out, 6) == 0u);
    BOOST_TEST(e.apply(original, out, 0) == 0u);
    BOOST_TEST(e.apply(original, out, 7) == 7u);
    BOOST_TEST(std::string(out, 7) == "abXYZcd");
    // An edit beyond the buffer (the edits were made for another one).
    BOOST_REQUIRE(e.erase(Span(10, 2)).ok());
    BOOST_TEST(!e.edited_size(original).has_value());
    BOOST_TEST(e.apply(original, out, sizeof out) == 0u);
    BOOST_TEST(e.apply(original) == "");
    // The message to send says so rather than being empty.
    auto sent = e.edited(original);
    BOOST_REQUIRE(!sent.ok());
    BOOST_TEST(sent.error().code == "edit_clash");
    BOOST_TEST(e.edited_size("0123456789ab").value() == 13u);
    BOOST_TEST(e.edited("0123456789ab").value() == "01XYZ23456789");
    // clear() empties the list for the next packet.
    e.clear();
    BOOST_TEST(e.empty());
    BOOST_TEST(e.apply(original) == "abcd");
}

BOOST_AUTO_TEST_CASE(spills_beyond_inline_storage) {
    // More edits than INLINE_EDITS, more text than INLINE_TEXT, added from the
    // end backwards so that every insertion lands at the front of the list.
    std::string original(100, '-');
    std::string expect;
    EditList e;
    const std::string chunk(40, 'x');
    for (int i = 99; i >= 0; i -= 2)
        BOOST_REQUIRE(e.insert(static_cast<uint32_t>(i), chunk + std::to_string(i)).ok());
    for (int i = 0; i < 100; ++i) {
        if (i % 2 == 1)
            expect += chunk + std::to_string(i);
        expect += '-';
    }
    BOOST_TEST(e.size() == 50u);
    BOOST_TEST(e.apply(original) == expect);
    // The list is a value: copies apply the same.
    EditList copy = e;
    BOOST_TEST(copy.apply(original) == expect);
    e.clear();
    BOOST_REQUIRE(e.insert(0, "again").ok());
    BOOST_TEST(e.apply("!") == "again!");
    BOOST_TEST(copy.apply(original) == expect);
}

BOOST_AUTO_TEST_CASE(texts_are_copied) {
    EditList e;
    {
        std::string temp = "temporary";
        BOOST_REQUIRE(e.insert(1, temp).ok());
        temp.assign("overwritten");
    }
    BOOST_TEST(e.apply("[]") == "[temporary]");
}

BOOST_AUTO_TEST_CASE(out_of_range_spans) {
    EditList e;
    BOOST_TEST(e.erase(Span(UINT32_MAX - 1, 5)).error().code == "out_of_range");
    BOOST_TEST(e.insert(UINT32_MAX, "x").ok());
    BOOST_TEST(!e.edited_size("abc").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
