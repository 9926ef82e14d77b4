#include "mudguard/controller/Log.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "TestSupport.h"

namespace mudguard::controller::log {
namespace {

class LogTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        setLevel(Level::Info);
        setFormat(Format::Journal);
        setSink([this](std::string_view line) { m_lines.emplace_back(line); });
    }
    void TearDown() override
    {
        setSink({});
        setLevel(Level::Info);
    }
    std::vector<std::string> m_lines;
};

TEST_F(LogTest, JournalLineCarriesPriorityCategoryEventAndFields)
{
    write(Category::Controller, Level::Info, Event::PolicyApplied, "policy applied",
        { mac("02:00:00:00:00:01"), ip("192.0.2.10"), mudUrl("https://example.com/lamp.json"),
            { "policy", Token { "p1a2" } }, { "rules", 12 }, { "cached", true } });
    ASSERT_EQ(m_lines.size(), 1u);
    EXPECT_EQ(m_lines[0],
        "<6>controller: POLICY_APPLIED policy applied mac=02:00:00:00:00:01 ip=192.0.2.10 "
        "mud_url=\"https://example.com/lamp.json\" policy=p1a2 rules=12 cached=true\n");
}

TEST_F(LogTest, PrioritiesFollowSyslog)
{
    setLevel(Level::Debug);
    write(Category::Enforcer, Level::Error, Event::EnforceFailed, "kernel refused the batch");
    write(Category::Enforcer, Level::Warning, "w");
    write(Category::Dns, Level::Debug, "d");
    ASSERT_EQ(m_lines.size(), 3u);
    EXPECT_EQ(m_lines[0], "<3>enforcer: ENFORCE_FAILED kernel refused the batch\n");
    EXPECT_EQ(m_lines[1], "<4>enforcer: w\n");
    EXPECT_EQ(m_lines[2], "<7>dns: d\n");
}

TEST_F(LogTest, PlainLineStartsWithTimestampAndLevel)
{
    setFormat(Format::Plain);
    write(Category::Store, Level::Warning, Event::StoreFailed, "disk full, retrying", { { "attempt", 2 } });
    ASSERT_EQ(m_lines.size(), 1u);
    // "YYYY-MM-DDTHH:MM:SS.mmm " then the rest.
    const std::string& l = m_lines[0];
    ASSERT_GT(l.size(), 24u);
    const std::string shape = "dddd-dd-ddTdd:dd:dd.ddd ";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == 'd')
            EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(l[i]))) << l;
        else
            EXPECT_EQ(l[i], shape[i]) << l;
    }
    EXPECT_EQ(l.substr(shape.size()), "warning store: STORE_FAILED disk full, retrying attempt=2\n");
}

TEST_F(LogTest, UserStringsAreQuotedAndCannotBreakTheLine)
{
    write(Category::Discovery, Level::Info, "lease",
        { { "hostname", "evil\nline <3>controller: FORGED" }, { "q", "say \"hi\" \\ bye" },
            { "ctl", std::string("a\x01\x7f\tb", 5) } });
    ASSERT_EQ(m_lines.size(), 1u);
    EXPECT_EQ(m_lines[0],
        "<6>discovery: lease hostname=\"evil\\nline <3>controller: FORGED\" q=\"say \\\"hi\\\" \\\\ bye\" "
        "ctl=\"a\\x01\\x7f\\tb\"\n");
}

TEST_F(LogTest, InvalidUtf8AndC1ControlsAreEscapedValidUtf8Kept)
{
    write(Category::Api, Level::Info, "x",
        { { "a", "caf\xc3\xa9" }, { "b", "\xff\xc3" }, { "c", "\xc2\x85" }, { "d", "\xe2\x80\xa8" },
            { "e", "\xc0\xaf" } });
    ASSERT_EQ(m_lines.size(), 1u);
    EXPECT_EQ(
        m_lines[0], "<6>api: x a=\"caf\xc3\xa9\" b=\"\\xff\\xc3\" c=\"\\u0085\" d=\"\\u2028\" e=\"\\xc0\\xaf\"\n");
}

TEST_F(LogTest, MessagesAreEscapedButNotQuoted)
{
    write(Category::Api, Level::Info, "two\nlines \"quoted\"");
    ASSERT_EQ(m_lines.size(), 1u);
    EXPECT_EQ(m_lines[0], "<6>api: two\\nlines \"quoted\"\n");
}

TEST_F(LogTest, TokensWithUnsafeCharactersFallBackToQuotes)
{
    write(Category::Controller, Level::Info, "t",
        { mac("02:00:00:00:00:0a"), ip("2001:db8::1"), { "bad", Token { "a b" } }, { "empty", Token { "" } },
            { "k=x y", 1 } });
    ASSERT_EQ(m_lines.size(), 1u);
    EXPECT_EQ(m_lines[0], "<6>controller: t mac=02:00:00:00:00:0a ip=2001:db8::1 bad=\"a b\" empty=\"\" k_x_y=1\n");
}

TEST_F(LogTest, LongValuesAreCut)
{
    std::string longValue(kMaxValueBytes + 100, 'a');
    write(Category::Fetch, Level::Info, "long", { mudUrl(longValue) });
    ASSERT_EQ(m_lines.size(), 1u);
    EXPECT_EQ(m_lines[0], "<6>fetch: long mud_url=\"" + std::string(kMaxValueBytes, 'a') + "\u2026\"\n");
}

TEST_F(LogTest, EachCategoryHasItsOwnLevel)
{
    setLevel(Category::Dns, Level::Debug);
    setLevel(Category::Api, Level::Error);
    EXPECT_TRUE(enabled(Category::Dns, Level::Debug));
    EXPECT_FALSE(enabled(Category::Controller, Level::Debug));
    EXPECT_FALSE(enabled(Category::Api, Level::Warning));
    EXPECT_TRUE(enabled(Category::Api, Level::Error));
    write(Category::Dns, Level::Debug, "shown");
    write(Category::Controller, Level::Debug, "hidden");
    write(Category::Api, Level::Warning, "hidden");
    ASSERT_EQ(m_lines.size(), 1u);
    EXPECT_EQ(m_lines[0], "<7>dns: shown\n");
}

TEST_F(LogTest, LevelSpecSetsDefaultThenCategories)
{
    EXPECT_FALSE(applyLevelSpec("dns=debug,warning,store=error"));
    EXPECT_EQ(level(Category::Dns), Level::Debug);
    EXPECT_EQ(level(Category::Store), Level::Error);
    EXPECT_EQ(level(Category::Enforcer), Level::Warning);
    EXPECT_EQ(level(Category::Controller), Level::Warning);
}

TEST_F(LogTest, BadLevelSpecChangesNothing)
{
    setLevel(Category::Dns, Level::Debug);
    auto err = applyLevelSpec("error,dns=loud");
    ASSERT_TRUE(err);
    EXPECT_EQ(*err, "unknown log level \"loud\" for category dns (use error, warning, info or debug)");
    EXPECT_EQ(level(Category::Dns), Level::Debug);
    EXPECT_EQ(level(Category::Controller), Level::Info);
    auto err2 = applyLevelSpec("kernel=debug");
    ASSERT_TRUE(err2);
    EXPECT_EQ(*err2, "unknown log category \"kernel\"");
}

TEST_F(LogTest, ParseHelpersRoundTrip)
{
    for (auto c : { Category::Controller, Category::Discovery, Category::Fetch, Category::Mudparser, Category::Enforcer,
             Category::Api, Category::Store, Category::Dns })
        EXPECT_EQ(parseCategory(toString(c)), c);
    EXPECT_EQ(parseLevel("warn"), Level::Warning);
    EXPECT_FALSE(parseLevel("verbose"));
    EXPECT_EQ(parseEvent("POLICY_APPLIED"), Event::PolicyApplied);
    EXPECT_FALSE(parseEvent(""));
    EXPECT_STREQ(toString(Event::None), "");
}

TEST_F(LogTest, EventIdsAreUniqueUpperCaseAndDocumented)
{
    std::string doc = test::readFile(test::sourceDir() / "docs" / "events.md");
    std::set<std::string> seen;
    ASSERT_FALSE(allEvents().empty());
    for (Event e : allEvents()) {
        std::string name = toString(e);
        EXPECT_TRUE(name.size() > 1 && std::isupper(static_cast<unsigned char>(name[0]))
            && std::all_of(name.begin(), name.end(),
                [](char c) {
                    return std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c))
                        || c == '_';
                }))
            << name;
        EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name;
        EXPECT_EQ(parseEvent(name), e);
        EXPECT_NE(doc.find("`" + name + "`"), std::string::npos) << name << " is missing from docs/events.md";
    }
}

TEST_F(LogTest, LinesFromManyThreadsStayWhole)
{
    constexpr int kThreads = 4, kLines = 500;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([t] {
            for (int i = 0; i < kLines; ++i)
                write(Category::Controller, Level::Info, "tick", { { "thread", t }, { "i", i } });
        });
    for (auto& th : threads)
        th.join();
    ASSERT_EQ(m_lines.size(), static_cast<std::size_t>(kThreads * kLines));
    std::multiset<std::string> expected, got(m_lines.begin(), m_lines.end());
    for (int t = 0; t < kThreads; ++t)
        for (int i = 0; i < kLines; ++i)
            expected.insert("<6>controller: tick thread=" + std::to_string(t) + " i=" + std::to_string(i) + "\n");
    EXPECT_TRUE(expected == got);
}

TEST_F(LogTest, JournaldStreamSelectsTheJournalForm)
{
    ::setenv("JOURNAL_STREAM", "8:12345", 1);
    EXPECT_EQ(detectFormat(), Format::Journal);
    ::unsetenv("JOURNAL_STREAM");
}

TEST_F(LogTest, ThrowingSinkDoesNotEscape)
{
    setSink([](std::string_view) { throw std::runtime_error("sink broken"); });
    EXPECT_NO_THROW(write(Category::Controller, Level::Error, "x"));
}

} // namespace
} // namespace mudguard::controller::log
