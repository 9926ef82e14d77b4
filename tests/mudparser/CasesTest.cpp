// Data-driven diagnostics: each tests/data/mud/{invalid,warnings}/<case>.json is parsed (in
// lenient mode when the name starts with "lenient-") and its diagnostics must equal
// <case>.expected exactly, one per line:
//     severity <TAB> code <TAB> line:column <TAB> path <TAB> message
// Files under invalid/ must be refused, files under warnings/ accepted with warnings.
// MUDGUARD_REGEN_GOLDEN=1 rewrites the .expected files (review the diff before committing).
#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mudguard/mudparser/Parser.h"

#include "TestSupport.h"

using namespace mudguard::mudparser;
namespace fs = std::filesystem;

namespace {

struct Case {
    std::string dir;
    std::string name;
};

std::vector<Case> allCases()
{
    std::vector<Case> cases;
    for (std::string dir : { "invalid", "warnings" }) {
        fs::path base = mudguard::test::sourceDir() / "tests/data/mud" / dir;
        for (const auto& e : fs::directory_iterator(base))
            if (e.path().extension() == ".json")
                cases.push_back({ dir, e.path().stem().string() });
    }
    std::sort(cases.begin(), cases.end(), [](const Case& a, const Case& b) { return a.dir + a.name < b.dir + b.name; });
    return cases;
}

std::string render(const Report& report)
{
    std::string out;
    for (const auto& d : report.diagnostics) {
        std::string where = d.line ? fmt::format("{}:{}", *d.line, d.column.value_or(0)) : "-";
        out += fmt::format(
            "{}\t{}\t{}\t{}\t{}\n", toString(d.severity), d.code, where, d.path.empty() ? "-" : d.path, d.message);
    }
    return out;
}

const Parser& parser()
{
    static Parser p;
    return p;
}

class DiagnosticCase : public ::testing::TestWithParam<Case> { };

} // namespace

TEST_P(DiagnosticCase, MatchesExpectedDiagnostics)
{
    const Case& c = GetParam();
    fs::path dir = mudguard::test::sourceDir() / "tests/data/mud" / c.dir;
    std::string text = mudguard::test::readFile(dir / (c.name + ".json"));
    ParseOptions options;
    options.fileName = c.name + ".json";
    options.mode = c.name.rfind("lenient-", 0) == 0 ? Mode::Lenient : Mode::Strict;
    auto result = parser().parse(text, options);
    std::string actual = render(result.report);

    fs::path expectedFile = dir / (c.name + ".expected");
    if (const char* regen = std::getenv("MUDGUARD_REGEN_GOLDEN"); regen && std::string(regen) == "1")
        mudguard::test::writeFile(expectedFile, actual);
    ASSERT_TRUE(fs::exists(expectedFile)) << "missing " << expectedFile;
    EXPECT_EQ(actual, mudguard::test::readFile(expectedFile));

    if (c.dir == "invalid") {
        EXPECT_FALSE(result.profile) << "an invalid case was accepted";
        EXPECT_TRUE(result.report.hasErrors());
    } else {
        EXPECT_TRUE(result.profile) << "a warnings case was refused";
        EXPECT_GT(result.report.count(Severity::Warning), 0u);
    }
    for (const auto& d : result.report.diagnostics) {
        EXPECT_EQ(d.file, options.fileName);
        EXPECT_FALSE(d.code.empty());
        EXPECT_FALSE(d.message.empty());
        EXPECT_TRUE(d.line.has_value()) << d.code << " has no line";
    }
}

INSTANTIATE_TEST_SUITE_P(
    Data, DiagnosticCase, ::testing::ValuesIn(allCases()), [](const ::testing::TestParamInfo<Case>& param) {
        std::string n = param.param.dir + "_" + param.param.name;
        std::replace(n.begin(), n.end(), '-', '_');
        return n;
    });

TEST(DiagnosticCases, ThereAreEnoughOfThem)
{
    auto cases = allCases();
    auto invalid = std::count_if(cases.begin(), cases.end(), [](const Case& c) { return c.dir == "invalid"; });
    EXPECT_GE(invalid, 25);
}

TEST(DiagnosticCodes, AreAllDocumented)
{
    std::string codes = mudguard::test::readFile(mudguard::test::sourceDir() / "mudparser/src/Codes.h");
    std::string doc = mudguard::test::readFile(mudguard::test::sourceDir() / "docs/diagnostics.md");
    std::size_t n = 0;
    for (auto at = codes.find("= \""); at != std::string::npos; at = codes.find("= \"", at + 1)) {
        auto end = codes.find('"', at + 3);
        std::string code = codes.substr(at + 3, end - at - 3);
        EXPECT_NE(doc.find("`" + code + "`"), std::string::npos) << code << " is not in docs/diagnostics.md";
        ++n;
    }
    EXPECT_GT(n, 40u);
}
