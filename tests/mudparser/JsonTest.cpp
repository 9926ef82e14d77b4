// The bounded JSON model: limits, positions, duplicates, paths, editing and line-preserving
// serialisation.
#include "Json.h"

#include <string>

#include <gtest/gtest.h>

using namespace mudguard::mudparser;
using namespace mudguard::mudparser::json;

namespace {

std::optional<Document> parseOk(std::string_view text, Limits limits = {})
{
    ParseError err;
    auto doc = Document::parse(text, limits, err);
    EXPECT_TRUE(doc.has_value()) << err.code << ": " << err.message << " at " << err.offset;
    return doc;
}

ParseError parseFails(std::string_view text, Limits limits = {})
{
    ParseError err;
    auto doc = Document::parse(text, limits, err);
    EXPECT_FALSE(doc.has_value()) << "parsed: " << text.substr(0, 80);
    return err;
}

} // namespace

TEST(Json, ParsesValuesWithTheirPositions)
{
    std::string text = "{\n  \"a\": 12,\n  \"b\": [true, null, \"x\\ny\"],\n  \"c\": {\"d\": -0}\n}";
    auto doc = parseOk(text);
    ASSERT_TRUE(doc);
    NodeId a = doc->member(doc->root(), "a");
    ASSERT_NE(a, kNoNode);
    EXPECT_EQ((*doc)[a].type, Type::Number);
    EXPECT_EQ((*doc)[a].text, "12");
    EXPECT_EQ(doc->unsignedValue(a), 12u);
    auto pa = doc->position(a);
    EXPECT_EQ(pa.line, 2u);
    EXPECT_EQ(pa.column, 8u);

    NodeId b = doc->member(doc->root(), "b");
    ASSERT_TRUE(doc->isArray(b));
    EXPECT_EQ(doc->childCount(b), 3u);
    NodeId s = doc->nextSibling(doc->nextSibling(doc->firstChild(b)));
    EXPECT_EQ(doc->string(s), std::optional<std::string_view>("x\ny"));
    EXPECT_EQ(doc->position(b).line, 3u);
    EXPECT_EQ(doc->position(b).column, 3u); // a member holding a container is located at its name

    NodeId d = doc->member(doc->member(doc->root(), "c"), "d");
    EXPECT_EQ(doc->unsignedValue(d), 0u) << "-0 is zero";
    EXPECT_EQ(doc->position(doc->root()).line, 1u);
    EXPECT_EQ(doc->position(doc->root()).column, 1u);
}

TEST(Json, ColumnsCountCharactersNotBytes)
{
    auto doc = parseOk("{\"\xc3\xa9t\xc3\xa9\": \"\xe2\x82\xac\", \"n\": 1}");
    ASSERT_TRUE(doc);
    NodeId n = doc->member(doc->root(), "n");
    EXPECT_EQ(doc->position(n).column, 19u);
}

TEST(Json, NumbersKeepTheirSpelling)
{
    auto doc = parseOk("[48.0, 1e2, 18446744073709551616, -5]");
    ASSERT_TRUE(doc);
    NodeId e = doc->firstChild(doc->root());
    EXPECT_EQ((*doc)[e].text, "48.0");
    EXPECT_FALSE(doc->unsignedValue(e));
    e = doc->nextSibling(e);
    EXPECT_EQ((*doc)[e].text, "1e2");
    EXPECT_FALSE(doc->unsignedValue(e));
    e = doc->nextSibling(e);
    EXPECT_FALSE(doc->unsignedValue(e)) << "2^64 does not fit";
    e = doc->nextSibling(e);
    EXPECT_FALSE(doc->unsignedValue(e));
}

TEST(Json, MalformedInputIsLocated)
{
    auto err = parseFails("{\n  \"a\": 1,\n  \"b\" 2\n}");
    EXPECT_EQ(err.code, "json-syntax");
    auto pos = positionIn("{\n  \"a\": 1,\n  \"b\" 2\n}", err.offset);
    EXPECT_EQ(pos.line, 3u);
    EXPECT_EQ(pos.column, 7u);

    EXPECT_EQ(parseFails("").message, "the document is empty");
    EXPECT_EQ(parseFails("{} x").message, "unexpected text after the end of the JSON document");
    EXPECT_EQ(parseFails("{\"a\": 1,}").code, "json-syntax") << "no trailing commas";
    EXPECT_EQ(parseFails("{\"a\": 1} // c").code, "json-syntax") << "no comments";
    EXPECT_EQ(parseFails("[NaN]").code, "json-syntax");
    EXPECT_EQ(
        parseFails("[\"unterminated").message, "the document ends too early (is it cut short?): unterminated string");
}

TEST(Json, RejectsNulBytesAndByteOrderMarks)
{
    std::string withNul("{\"a\": 1}\0{\"b\": 2}", 17);
    auto err = parseFails(withNul);
    EXPECT_EQ(err.code, "json-syntax");
    EXPECT_EQ(err.offset, 8u);
    EXPECT_EQ(parseFails("\xEF\xBB\xBF{}").code, "json-syntax");
}

TEST(Json, RejectsInvalidUtf8InStrings)
{
    auto err = parseFails("{\"a\": \"\xff\xfe\"}");
    EXPECT_EQ(err.code, "json-encoding");
    EXPECT_EQ(parseFails("{\"a\": \"\xc3\"}").code, "json-encoding") << "truncated sequence";
    EXPECT_EQ(parseFails("{\"a\": \"\xed\xa0\x80\"}").code, "json-encoding") << "UTF-16 surrogate in UTF-8";
}

TEST(Json, EnforcesDepthSizeStringAndValueLimits)
{
    Limits limits;
    limits.maxJsonDepth = 4;
    EXPECT_TRUE(parseOk("[[[[1]]]]", limits));
    EXPECT_EQ(parseFails("[[[[[1]]]]]", limits).code, "limit-depth");

    std::string deep(200000, '[');
    EXPECT_EQ(parseFails(deep).code, "limit-depth") << "no recursion, no crash";

    limits = Limits {};
    limits.maxDocumentBytes = 10;
    EXPECT_EQ(parseFails("{\"a\": \"0123456789\"}", limits).code, "limit-size");

    limits = Limits {};
    limits.maxStringBytes = 4;
    EXPECT_TRUE(parseOk("{\"abcd\": \"efgh\"}", limits));
    EXPECT_EQ(parseFails("{\"abcde\": 1}", limits).code, "limit-string");
    EXPECT_EQ(parseFails("{\"a\": \"efghi\"}", limits).code, "limit-string");

    limits = Limits {};
    limits.maxJsonValues = 5;
    EXPECT_TRUE(parseOk("[1, 2, 3, 4]", limits));
    EXPECT_EQ(parseFails("[1, 2, 3, 4, 5]", limits).code, "limit-values");
}

TEST(Json, DuplicateMembersAreKeptOnceAndReported)
{
    auto doc = parseOk("{\"a\": 1, \"b\": 2, \"a\": 3}");
    ASSERT_TRUE(doc);
    ASSERT_EQ(doc->duplicates().size(), 1u);
    EXPECT_EQ((*doc)[doc->duplicates()[0].node].text, "3");
    EXPECT_EQ((*doc)[doc->member(doc->root(), "a")].text, "1") << "the first one stays";
    EXPECT_EQ(doc->childCount(doc->root()), 2u);

    // Large objects switch to a hash set; the result is the same.
    std::string big = "{";
    for (int i = 0; i < 100; ++i)
        big += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ",";
    big += "\"k7\": 0, \"k99\": 1}";
    auto many = parseOk(big);
    ASSERT_TRUE(many);
    EXPECT_EQ(many->duplicates().size(), 2u);
    EXPECT_EQ(many->childCount(many->root()), 100u);

    // Escapes do not hide duplicates: "a" and "\u0061" are the same name.
    auto escaped = parseOk("{\"a\": 1, \"\\u0061\": 2}");
    ASSERT_TRUE(escaped);
    EXPECT_EQ(escaped->duplicates().size(), 1u);
}

TEST(Json, PathsNameListEntriesByKey)
{
    auto doc = parseOk(R"({"m:acls": {"acl": [{"name": "one", "aces": {"ace": [{"name": "it's"}]}}, {"x": 1}]},
                          "m:mud": {"extensions": ["transparency"]}})");
    ASSERT_TRUE(doc);
    NodeId acl = doc->firstChild(doc->member(doc->member(doc->root(), "m:acls"), "acl"));
    NodeId ace = doc->firstChild(doc->member(doc->member(acl, "aces"), "ace"));
    EXPECT_EQ(doc->pathOf(ace), "/m:acls/acl[name='one']/aces/ace[name=\"it's\"]");
    EXPECT_EQ(doc->pathOf(doc->nextSibling(acl)), "/m:acls/acl[2]");
    NodeId ext = doc->firstChild(doc->member(doc->member(doc->root(), "m:mud"), "extensions"));
    EXPECT_EQ(doc->pathOf(ext), "/m:mud/extensions[.='transparency']");

    bool complete = false;
    EXPECT_EQ(doc->resolve("/m:acls/acl[name='one']/aces/ace[name=\"it's\"]", complete), ace);
    EXPECT_TRUE(complete);
    EXPECT_EQ(
        doc->resolve("/m:acls/acl[name='two']/aces", complete), doc->member(doc->member(doc->root(), "m:acls"), "acl"));
    EXPECT_FALSE(complete);
    EXPECT_EQ(doc->resolve("/m:mud/extensions[.='transparency']", complete), ext);
    EXPECT_TRUE(complete);
    EXPECT_EQ(doc->resolve("/m:acls/acl[2]/x", complete), doc->member(doc->nextSibling(acl), "x"));
    EXPECT_TRUE(complete);
}

TEST(Json, SerialisingKeepsEveryTokenOnItsLine)
{
    std::string text = "{\n  \"a\": 1,\n\n  \"b\": {\n    \"c\": \"x\"\n  },\n  \"d\": [\n    2\n  ]\n}\n";
    auto doc = parseOk(text);
    ASSERT_TRUE(doc);
    NodeId b = doc->member(doc->root(), "b");
    doc->rename(b, "bee");
    doc->setNumber(doc->member(b, "c"), "7");
    doc->remove(doc->member(doc->root(), "a"));
    EXPECT_TRUE(doc->modified());
    std::string out = doc->serialize();
    // Values and member names keep their lines; closing brackets follow the last value.
    EXPECT_EQ(out, "{\n\n\n\"bee\":{\n\"c\":7},\n\n\"d\":[\n2]}\n");

    ParseError err;
    auto again = Document::parse(out, Limits {}, err);
    ASSERT_TRUE(again);
    NodeId two = again->firstChild(again->member(again->root(), "d"));
    EXPECT_EQ(again->position(two).line, 8u) << "same line as in the original";
    EXPECT_EQ(doc->compact(b), "{\"c\":7}");
}

TEST(Json, AddedMembersAndEscapesSerialise)
{
    auto doc = parseOk("{\"o\": {}}");
    ASSERT_TRUE(doc);
    NodeId o = doc->member(doc->root(), "o");
    doc->addMember(o, "s", Type::String, "quote \" backslash \\ tab \t nul");
    doc->addMember(o, "n", Type::Number, "1");
    doc->addMember(o, "t", Type::True, "");
    EXPECT_EQ(doc->compact(o), "{\"s\":\"quote \\\" backslash \\\\ tab \\t nul\",\"n\":1,\"t\":true}");
    ParseError err;
    std::string out = doc->serialize();
    EXPECT_TRUE(Document::parse(out, Limits {}, err)) << err.message;
}

TEST(Json, QualifiedMembersAreVisitedInOrderSkippingRemovedSubtrees)
{
    auto doc = parseOk(R"({"a:x": {"b:y": 1, "z": 2}, "c:w": [{"d:v": 3}], "e:u": 4, "a:x": 5})");
    ASSERT_TRUE(doc);
    std::string seen;
    doc->forEachQualifiedMember([&](NodeId id) {
        seen += std::string((*doc)[id].key) + " ";
        if ((*doc)[id].key == "c:w")
            doc->remove(id);
    });
    EXPECT_EQ(seen, "a:x b:y c:w e:u ") << "d:v is below a removed member, the second a:x is a duplicate";
}
