// Every event ID the catalogue (docs/events.md, log::Event) lists is emitted somewhere in the
// program's sources and asserted by at least one test, so that no ID is promised and never made,
// and none is made without a test noticing when it stops.

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "mudguard/controller/Log.h"

#include "TestSupport.h"

namespace mudguard::test {
namespace {

namespace fs = std::filesystem;
using controller::log::Event;

/// "POLICY_APPLIED" -> "PolicyApplied", the enumerator's name.
std::string enumerator(std::string_view id)
{
    std::string out;
    bool upper = true;
    for (char c : id) {
        if (c == '_') {
            upper = true;
            continue;
        }
        out += upper ? c : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        upper = false;
    }
    return out;
}

std::string readAll(const fs::path& dir, const std::set<std::string>& extensions, const std::string& skip = {})
{
    std::string all;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file() || !extensions.count(e.path().extension().string()))
            continue;
        if (!skip.empty() && e.path().filename() == skip)
            continue;
        all += readFile(e.path());
        all += '\n';
    }
    return all;
}

TEST(EventCoverage, EveryEventIsEmittedByTheProgram)
{
    // Log.cpp names every enumerator in its table: it does not count as emitting one.
    std::string sources = readAll(sourceDir() / "controller" / "src", { ".cpp", ".h" }, "Log.cpp");
    for (Event e : controller::log::allEvents()) {
        std::string id = controller::log::toString(e);
        std::string name = "Event::" + enumerator(id);
        EXPECT_NE(sources.find(name), std::string::npos) << id << " is documented but never emitted (" << name << ")";
    }
}

TEST(EventCoverage, EveryEventIsAssertedByATest)
{
    std::string tests = readAll(sourceDir() / "tests", { ".cpp", ".h", ".sh" }, "EventCoverageTest.cpp");
    // The catalogue test only checks that names are documented: it does not assert emission.
    auto logTest = readFile(sourceDir() / "tests" / "controller" / "LogTest.cpp");
    for (Event e : controller::log::allEvents()) {
        std::string id = controller::log::toString(e);
        std::string name = "Event::" + enumerator(id);
        auto count = [&](const std::string& haystack, const std::string& needle) {
            std::size_t n = 0;
            for (auto pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1))
                ++n;
            return n;
        };
        std::size_t inTests = count(tests, id) + count(tests, name);
        std::size_t inLogTest = count(logTest, id) + count(logTest, name);
        EXPECT_GT(inTests, inLogTest) << id << " is not asserted by any test";
    }
}

} // namespace
} // namespace mudguard::test
