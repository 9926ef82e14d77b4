// `mudguard validate` refuses what `mudguard compile` refuses, and nothing more. For every MUD
// file the project has (examples/, tests/data/mud/{invalid,warnings,unenforceable}/, the
// compile command's refusal case) and every MUD file of the shared corpus (MANIFEST.tsv), in strict and in
// lenient mode, run as the real program:
//  * both commands accept the file or both refuse it;
//  * a refusal because this router cannot enforce an entry carries the code "unenforceable" in
//    both, and only then.
// The files of tests/data/mud/unenforceable/ are valid MUD files that cannot be enforced here:
// the diagnostics validate gives for each must equal <case>.expected exactly, one per line
// (severity <TAB> code <TAB> line:column <TAB> path <TAB> message), and compile must refuse with
// the same error. MUDGUARD_REGEN_GOLDEN=1 rewrites the .expected files.

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "TestSupport.h"

namespace mudguard::test {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> jsonFiles(const fs::path& dir)
{
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".json" && e.path().filename() != "mudguard.json") // the daemon's configuration
            out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<fs::path> projectFiles()
{
    std::vector<fs::path> out;
    for (const char* dir :
        { "examples", "tests/data/mud/invalid", "tests/data/mud/warnings", "tests/data/mud/unenforceable" }) {
        auto files = jsonFiles(sourceDir() / dir);
        out.insert(out.end(), files.begin(), files.end());
    }
    out.push_back(sourceDir() / "tests/data/enforcer/compile/unenforceable.json");
    return out;
}

std::vector<fs::path> corpusFiles()
{
    std::vector<fs::path> out;
    std::ifstream manifest(corpusDir() / "MANIFEST.tsv");
    std::string line;
    std::getline(manifest, line); // header
    while (std::getline(manifest, line)) {
        std::vector<std::string> cols;
        std::istringstream in(line);
        std::string c;
        while (std::getline(in, c, '\t'))
            cols.push_back(c);
        if (cols.size() > 1 && cols[1] == "mud")
            out.push_back(corpusDir() / "mud" / cols[0]);
    }
    return out;
}

struct Verdict {
    bool valid = false;
    std::vector<std::string> lines; ///< the diagnostics, as in the .expected files
    bool unenforceable = false;
};

/// `mudguard validate --format json` over many files at once: the verdict of each.
std::map<std::string, Verdict> validateAll(const std::vector<fs::path>& files, bool lenient)
{
    std::vector<std::string> argv { mudguardProgram().string(), "validate", "--format", "json" };
    if (lenient)
        argv.push_back("--lenient");
    for (const auto& f : files)
        argv.push_back(f.string());
    auto r = runCommand(argv);
    EXPECT_NE(r.exitCode, 2) << r.err;
    rapidjson::Document doc;
    doc.Parse(r.out.c_str());
    std::map<std::string, Verdict> out;
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("files")) {
        ADD_FAILURE() << "validate printed no JSON report:\n" << r.out << r.err;
        return out;
    }
    for (const auto& f : doc["files"].GetArray()) {
        Verdict v;
        v.valid = f["valid"].GetBool();
        for (const auto& d : f["diagnostics"].GetArray()) {
            std::string where
                = d["line"].IsNull() ? "-" : fmt::format("{}:{}", d["line"].GetUint(), d["column"].GetUint());
            std::string path = d["path"].GetString();
            v.lines.push_back(fmt::format("{}\t{}\t{}\t{}\t{}", d["severity"].GetString(), d["code"].GetString(), where,
                path.empty() ? "-" : path, d["message"].GetString()));
            v.unenforceable = v.unenforceable || std::string(d["code"].GetString()) == "unenforceable";
        }
        out[f["file"].GetString()] = std::move(v);
    }
    return out;
}

CommandResult compile(const fs::path& file, bool lenient)
{
    std::vector<std::string> argv { mudguardProgram().string(), "compile" };
    if (lenient)
        argv.push_back("--lenient");
    argv.push_back(file.string());
    return runCommand(argv);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

} // namespace

TEST(ValidateAndCompile, AgreeOnEveryFile)
{
    auto files = projectFiles();
    auto corpus = corpusFiles();
    EXPECT_GT(corpus.size(), 150u) << "corpus not found at " << corpusDir();
    files.insert(files.end(), corpus.begin(), corpus.end());

    std::size_t accepted = 0, invalid = 0, unenforceable = 0;
    for (bool lenient : { false, true }) {
        auto verdicts = validateAll(files, lenient);
        ASSERT_EQ(verdicts.size(), files.size());
        for (const auto& file : files) {
            SCOPED_TRACE(fmt::format("{} ({})", file.string(), lenient ? "lenient" : "strict"));
            const Verdict& v = verdicts[file.string()];
            auto c = compile(file, lenient);
            ASSERT_NE(c.exitCode, 2) << c.err;
            std::string validated;
            for (const auto& l : v.lines)
                validated += "\n  " + l;
            EXPECT_EQ(v.valid, c.exitCode == 0) << "validate says " << (v.valid ? "valid" : "refused") << validated
                                                << "\ncompile says " << c.exitCode << ":\n"
                                                << c.err;
            EXPECT_EQ(v.unenforceable, contains(c.err, "[unenforceable]")) << validated << "\ncompile:\n" << c.err;
            if (v.valid)
                ++accepted;
            else if (v.unenforceable)
                ++unenforceable;
            else
                ++invalid;
        }
    }
    std::cout << "validate and compile: " << accepted << " accepted, " << invalid << " invalid, " << unenforceable
              << " not enforceable (strict and lenient)\n";
    EXPECT_GT(accepted, 100u);
    EXPECT_GT(invalid, 100u);
    EXPECT_GE(unenforceable, 2 * jsonFiles(sourceDir() / "tests/data/mud/unenforceable").size());
}

TEST(ValidateAndCompile, UnenforceableCasesMatchTheirExpectedDiagnostics)
{
    fs::path dir = sourceDir() / "tests/data/mud/unenforceable";
    auto files = jsonFiles(dir);
    ASSERT_GE(files.size(), 5u);
    auto verdicts = validateAll(files, false);
    for (const auto& file : files) {
        SCOPED_TRACE(file.filename().string());
        const Verdict& v = verdicts[file.string()];
        EXPECT_FALSE(v.valid);
        ASSERT_TRUE(v.unenforceable) << "not an unenforceable case";
        std::string actual;
        for (const auto& l : v.lines)
            actual += l + "\n";
        fs::path expected = dir / (file.stem().string() + ".expected");
        if (const char* regen = std::getenv("MUDGUARD_REGEN_GOLDEN"); regen && std::string(regen) == "1")
            writeFile(expected, actual);
        ASSERT_TRUE(fs::exists(expected)) << "missing " << expected;
        EXPECT_EQ(actual, readFile(expected));

        // compile refuses with the same error, and prints nothing.
        auto c = compile(file, false);
        EXPECT_EQ(c.exitCode, 1);
        EXPECT_EQ(c.out, "");
        const std::string& refusal = *std::find_if(
            v.lines.begin(), v.lines.end(), [](const std::string& l) { return contains(l, "\tunenforceable\t"); });
        std::vector<std::string> fields;
        std::istringstream in(refusal);
        for (std::string f; std::getline(in, f, '\t');)
            fields.push_back(f);
        ASSERT_EQ(fields.size(), 5u);
        EXPECT_TRUE(contains(
            c.err, fmt::format("{}: error: {} [unenforceable] (at {})\n", file.string(), fields[4], fields[3])))
            << c.err;
    }
}

} // namespace mudguard::test
