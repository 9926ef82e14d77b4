#pragma once
// Helpers shared by the enforcer tests: golden compile cases, listings, network namespaces.

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mudguard/enforcer/Json.h"
#include "mudguard/enforcer/Layout.h"
#include "mudguard/enforcer/Render.h"

namespace mudguard::test {

std::filesystem::path enforcerDataDir();
/// Every tests/data/enforcer/<case>.in.json, by case name, sorted.
std::vector<std::string> goldenCases();
/// A gtest-safe name for a case.
std::string caseTestName(const ::testing::TestParamInfo<std::string>& info);

struct CompiledCase {
    enforcer::json::Case input;
    enforcer::Layout layout;
    enforcer::ElementMap elements;
    /// Both tables as text: what <case>.nft holds.
    std::string text() const;
};
CompiledCase compileCase(const std::string& name);
CompiledCase compileCaseText(const std::string& json);

/// Canonical form of `nft -s list table` output (or of the renderer's text) for comparison: the
/// elements of every set sorted one per line, and the objects of each table sorted by name
/// (the kernel lists objects in creation order, which depends on history). `dropDynamic` drops
/// the elements of dynamic sets (the packet path adds those).
std::string normalizeListing(const std::string& text, bool dropDynamic = true);

/// The lines that differ between two texts (empty when equal), for readable failures.
std::string lineDiff(const std::string& expected, const std::string& actual);

/// A network namespace with a unique name, removed (with its processes) on destruction.
class NftNetns {
public:
    explicit NftNetns(const std::string& tag);
    ~NftNetns();
    NftNetns(const NftNetns&) = delete;
    NftNetns& operator=(const NftNetns&) = delete;
    const std::string& name() const { return m_name; }
    /// Runs argv inside the namespace (ip netns exec).
    struct Result {
        int exitCode;
        std::string out, err;
    };
    Result run(const std::vector<std::string>& argv, const std::string& input = {}) const;
    /// Runs and fails the test (ADD_FAILURE) on a non-zero exit; returns stdout.
    std::string must(const std::vector<std::string>& argv, const std::string& input = {}) const;
    /// `nft -s list table <family> mudguard`, or "" when the table is absent.
    std::string listTable(const std::string& family) const;

private:
    std::string m_name;
};

/// Switches the calling thread into a namespace for its lifetime (setns), and back.
class EnterNetns {
public:
    explicit EnterNetns(const NftNetns& ns);
    ~EnterNetns();
    EnterNetns(const EnterNetns&) = delete;
    EnterNetns& operator=(const EnterNetns&) = delete;

private:
    int m_saved = -1;
};

} // namespace mudguard::test
