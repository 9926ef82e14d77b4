// Every example and every corpus file the parser accepts compiles into a ruleset that loads
// with `nft -f` into an empty namespace, and the kernel lists exactly what was printed.

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "CaseSupport.h"
#include "TestSupport.h"

namespace mudguard::test {
namespace {

struct Input {
    std::string file;
    bool lenient;
};

std::vector<Input> inputs()
{
    std::vector<Input> out;
    for (const auto& e : std::filesystem::directory_iterator(sourceDir() / "examples"))
        if (e.path().extension() == ".json" && e.path().filename() != "mudguard.json")
            out.push_back({ e.path().string(), false });
    // The corpus manifest: VALID files compile strictly; every other MUD file is tried in
    // lenient mode (the parser decides which it accepts).
    std::ifstream manifest(corpusDir() / "MANIFEST.tsv");
    std::string line;
    while (std::getline(manifest, line)) {
        std::vector<std::string> cols;
        std::istringstream in(line);
        std::string c;
        while (std::getline(in, c, '\t'))
            cols.push_back(c);
        if (cols.size() < 11 || cols[1] != "mud")
            continue;
        out.push_back({ (corpusDir() / "mud" / cols[0]).string(), cols[10] != "VALID" });
    }
    std::sort(out.begin(), out.end(), [](const Input& a, const Input& b) { return a.file < b.file; });
    return out;
}

TEST(CompileLoad, EveryAcceptedFileLoadsAndListsAsPrinted)
{
    requireNetns();
    if (!std::filesystem::exists(corpusDir() / "MANIFEST.tsv"))
        GTEST_SKIP() << "no corpus at " << corpusDir();
    NftNetns ns("compile");
    std::size_t loaded = 0, strictValid = 0, examples = 0;
    for (const auto& in : inputs()) {
        std::vector<std::string> argv { mudguardProgram().string(), "compile" };
        if (in.lenient)
            argv.push_back("--lenient");
        argv.push_back(in.file);
        auto r = runCommand(argv);
        if (r.exitCode != 0) {
            // Only lenient tries may be refused (by the parser: not a valid MUD file).
            EXPECT_TRUE(in.lenient) << in.file << " was refused:\n" << r.err;
            EXPECT_EQ(r.err.find("[unenforceable]"), std::string::npos) << in.file << ":\n" << r.err;
            continue;
        }
        auto load = ns.run({ "nft", "-f", "-" }, r.out);
        ASSERT_EQ(load.exitCode, 0) << in.file << ":\n" << load.err;
        std::string listed = ns.listTable("inet") + ns.listTable("bridge");
        std::string diff = lineDiff(normalizeListing(r.out, false), normalizeListing(listed, false));
        EXPECT_TRUE(diff.empty()) << in.file << ":\n" << diff;
        ns.run({ "nft", "delete", "table", "inet", "mudguard" });
        ns.run({ "nft", "delete", "table", "bridge", "mudguard" });
        ++loaded;
        strictValid += in.lenient ? 0 : 1;
        examples += in.file.find("/examples/") != std::string::npos ? 1 : 0;
    }
    std::cout << "loaded " << loaded << " rulesets (" << strictValid << " strict, " << examples << " examples)\n";
    EXPECT_GE(examples, 1u);
    EXPECT_GE(strictValid, 40u) << "the corpus's VALID files";
}

} // namespace
} // namespace mudguard::test
