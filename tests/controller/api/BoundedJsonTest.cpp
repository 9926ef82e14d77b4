// json::parse(): untrusted JSON within limits.
#include "json/BoundedJson.h"

#include <gtest/gtest.h>

namespace mudguard::controller::json {
namespace {

std::string problem(std::string_view text, Limits l = {})
{
    rapidjson::Document d;
    return parse(text, d, l);
}

TEST(BoundedJson, ParsesOrdinaryDocuments)
{
    rapidjson::Document d;
    ASSERT_EQ(parse(R"({"mac":"02:00:00:00:00:01","n":[1,2,{"x":null}]})", d), "");
    ASSERT_TRUE(d.IsObject());
    const auto* mac = member(d, "mac");
    ASSERT_TRUE(mac);
    EXPECT_EQ(str(*mac), "02:00:00:00:00:01");
    EXPECT_EQ(member(d, "missing"), nullptr);
    EXPECT_EQ(member(d["n"], "x"), nullptr) << "not an object";
    std::string withNul("\"a\\u0000b\"");
    ASSERT_EQ(parse(withNul, d), "");
    EXPECT_EQ(str(d), std::string("a\0b", 3)) << "escaped NULs are kept";
}

TEST(BoundedJson, NestingIsLimited)
{
    Limits l;
    l.maxDepth = 4;
    EXPECT_EQ(problem("[[[[1]]]]", l), "");
    EXPECT_EQ(problem("[[[[[1]]]]]", l), "nested deeper than 4 levels at offset 4");
    EXPECT_EQ(problem(R"({"a":{"b":{"c":{"d":{}}}}})", l).rfind("nested deeper than 4 levels", 0), 0u);
    // Far deeper than any stack allows for a recursive parser: refused, no crash.
    std::string deep(400'000, '[');
    EXPECT_EQ(problem(deep).rfind("nested deeper than 32 levels", 0), 0u);
}

TEST(BoundedJson, DuplicateMembersAreRefusedAtEveryLevel)
{
    EXPECT_EQ(problem(R"({"a":1,"a":2})"), "duplicate member \"a\" at offset 10");
    EXPECT_NE(problem(R"({"x":{"a":1,"b":{},"a":2}})"), "");
    EXPECT_EQ(problem(R"({"x":{"a":1},"y":{"a":1}})"), "") << "the same name in sibling objects is fine";
    EXPECT_EQ(problem(R"([{"a":1},{"a":2}])"), "");
}

TEST(BoundedJson, MalformedInputIsRefused)
{
    EXPECT_NE(problem(""), "");
    EXPECT_NE(problem("{"), "");
    EXPECT_NE(problem("{} x"), "");
    EXPECT_NE(problem("{,}"), "");
    EXPECT_NE(problem("[1,]"), "") << "no trailing commas";
    EXPECT_NE(problem("// c\n{}"), "") << "no comments";
    EXPECT_NE(problem("\"\xff\""), "") << "invalid UTF-8";
    EXPECT_NE(problem("\"\xc0\xaf\""), "") << "overlong UTF-8";
    EXPECT_EQ(problem(std::string("{}\0{}", 5)), "NUL byte at offset 2");
    // A multi-byte lead byte as the very last byte: the reader looks past the end (ASan would
    // report an overread without the padding).
    for (const char* lead : { "\xf0", "\xe2", "\xc3" })
        EXPECT_NE(problem(std::string("\"") + lead), "") << "a truncated UTF-8 sequence at the end";
    EXPECT_NE(problem("[1e400]"), "");
    EXPECT_NE(problem("[NaN]"), "");
}

TEST(BoundedJson, Utf8SequenceLength)
{
    EXPECT_EQ(utf8SequenceLength("a", 0), 1u);
    EXPECT_EQ(utf8SequenceLength("\xc3\xa9", 0), 2u);
    EXPECT_EQ(utf8SequenceLength("\xe2\x82\xac", 0), 3u);
    EXPECT_EQ(utf8SequenceLength("\xf0\x9f\x98\x80", 0), 4u);
    EXPECT_EQ(utf8SequenceLength("x\xc3\xa9", 1), 2u);
    EXPECT_EQ(utf8SequenceLength("\xc0\xaf", 0), 0u) << "overlong";
    EXPECT_EQ(utf8SequenceLength("\xe0\x80\xaf", 0), 0u) << "overlong";
    EXPECT_EQ(utf8SequenceLength("\xed\xa0\x80", 0), 0u) << "surrogate";
    EXPECT_EQ(utf8SequenceLength("\xf4\x90\x80\x80", 0), 0u) << "above U+10FFFF";
    EXPECT_EQ(utf8SequenceLength("\xe2\x82", 0), 0u) << "truncated";
    EXPECT_EQ(utf8SequenceLength("\x80", 0), 0u) << "a continuation byte alone";
}

TEST(BoundedJson, SizeIsCappedBeforeParsing)
{
    Limits l;
    l.maxBytes = 10;
    EXPECT_EQ(problem("[1,2,3,4,5]", l), "the document has 11 bytes, more than the limit of 10");
    EXPECT_EQ(problem("[1,2,3,4]", l), "");
}

} // namespace
} // namespace mudguard::controller::json
