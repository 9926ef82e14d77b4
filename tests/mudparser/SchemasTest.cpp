// The YANG modules in schemas/: each passes yanglint, and each compiles to the same schema as the
// published module of the same name and revision (descriptions and error messages aside).
#include <filesystem>

#include <gtest/gtest.h>

#include "TestSupport.h"

namespace fs = std::filesystem;
using mudguard::test::runCommand;

namespace {

std::vector<fs::path> projectModules()
{
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(mudguard::test::sourceDir() / "schemas"))
        if (e.path().extension() == ".yang")
            out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

/// Removes the statements that carry prose (description, reference, contact, organization,
/// error-message) from yanglint output, then blank lines.
std::string withoutProse(const std::string& text)
{
    static const std::vector<std::string> keywords
        = { "description", "reference", "contact", "organization", "error-message" };
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        // At the start of a token?
        bool removed = false;
        if (i == 0 || std::isspace(static_cast<unsigned char>(text[i - 1]))) {
            for (const auto& k : keywords) {
                if (text.compare(i, k.size(), k) != 0 || i + k.size() >= text.size()
                    || !std::isspace(static_cast<unsigned char>(text[i + k.size()])))
                    continue;
                // keyword, then one or more quoted strings joined by '+', then ';'
                std::size_t j = i + k.size();
                while (true) {
                    while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j])))
                        ++j;
                    if (j >= text.size() || text[j] != '"')
                        break;
                    ++j;
                    while (j < text.size() && text[j] != '"') {
                        if (text[j] == '\\')
                            ++j;
                        ++j;
                    }
                    ++j;
                    while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j])))
                        ++j;
                    if (j < text.size() && text[j] == '+') {
                        ++j;
                        continue;
                    }
                    break;
                }
                if (j < text.size() && text[j] == ';') {
                    i = j + 1;
                    removed = true;
                }
                break;
            }
        }
        if (!removed)
            out += text[i++];
    }
    std::string compact;
    std::size_t start = 0;
    while (start < out.size()) {
        auto end = out.find('\n', start);
        if (end == std::string::npos)
            end = out.size();
        std::string line = out.substr(start, end - start);
        if (line.find_first_not_of(" \t") != std::string::npos)
            compact += line + "\n";
        start = end + 1;
    }
    return compact;
}

/// The yanglint found by CMake (empty when there is none).
std::string yanglint()
{
    std::string p = MUDGUARD_YANGLINT;
    return p.find("NOTFOUND") == std::string::npos ? p : std::string();
}

} // namespace

TEST(Schemas, AllModulesArePresent)
{
    std::vector<std::string> names;
    for (const auto& p : projectModules())
        names.push_back(p.filename().string());
    std::vector<std::string> expected = { "ietf-access-control-list@2019-03-04.yang", "ietf-acldns@2019-01-28.yang",
        "ietf-ethertypes@2019-03-04.yang", "ietf-interfaces@2018-02-20.yang", "ietf-mud-transparency@2023-10-10.yang",
        "ietf-mud@2019-01-28.yang", "ietf-packet-fields@2019-03-04.yang",
        // mudguard's own configuration, not an RFC module
        "mudguard-config@2026-11-01.yang" };
    EXPECT_EQ(names, expected);
}

TEST(Schemas, EveryModulePassesYanglint)
{
    if (yanglint().empty())
        GTEST_SKIP() << "yanglint not found";
    fs::path dir = mudguard::test::sourceDir() / "schemas";
    for (const auto& p : projectModules()) {
        auto r = runCommand({ yanglint(), "-D", "-p", dir.string(), p.string() });
        EXPECT_EQ(r.exitCode, 0) << p.filename() << ":\n" << r.err << r.out;
        EXPECT_EQ(r.err, "") << p.filename() << " has warnings";
    }
}

TEST(Schemas, CompileLikeThePublishedModules)
{
    if (yanglint().empty())
        GTEST_SKIP() << "yanglint not found";
    fs::path ours = mudguard::test::sourceDir() / "schemas";
    fs::path published = mudguard::test::corpusDir() / "yang";
    for (const auto& p : projectModules()) {
        if (p.filename().string().rfind("ietf-", 0) != 0)
            continue; // the project's own modules have no published counterpart
        SCOPED_TRACE(p.filename().string());
        ASSERT_TRUE(fs::exists(published / p.filename())) << "no published module " << p.filename();
        std::vector<std::string> features;
        if (p.filename().string().rfind("ietf-access-control-list", 0) == 0)
            features = { "-F", "ietf-access-control-list:*" };
        for (const char* format : { "info", "tree" }) {
            auto run = [&](const fs::path& dir) {
                std::vector<std::string> argv = { yanglint(), "-D", "-p", dir.string(), "-f", format };
                argv.insert(argv.end(), features.begin(), features.end());
                argv.push_back((dir / p.filename()).string());
                auto r = runCommand(argv);
                EXPECT_EQ(r.exitCode, 0) << r.err;
                return withoutProse(r.out);
            };
            std::string a = run(ours);
            std::string b = run(published);
            EXPECT_GT(a.size(), 20u);
            EXPECT_EQ(a, b) << "format " << format;
        }
    }
}

TEST(Schemas, ProseStripperKeepsStructure)
{
    std::string in = "leaf x {\n  type string;\n  description\n    \"a \\\"quoted\\\" text;\n     over lines\";\n"
                     "  must \". > 1\" {\n    error-message \"one\" + \"two\";\n  }\n}\n";
    EXPECT_EQ(withoutProse(in), "leaf x {\n  type string;\n  must \". > 1\" {\n  }\n}\n");
}
