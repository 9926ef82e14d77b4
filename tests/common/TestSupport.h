#pragma once
// Helpers shared by the test binaries: locations, files, polling with a deadline, and the
// skip convention (exit code 77) for tests that need root and network namespaces.

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

namespace mudguard::test {

std::filesystem::path sourceDir();
std::filesystem::path binaryDir();
std::filesystem::path corpusDir();
/// The built program, build/mudguard.
std::filesystem::path mudguardProgram();

std::string readFile(const std::filesystem::path& p);
void writeFile(const std::filesystem::path& p, const std::string& content);

/// A fresh directory under the build tree, removed when the object goes away.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "mudguard-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

struct CommandResult {
    int exitCode = -1;
    std::string out, err;
};

/// Runs argv (no shell) with optional stdin, capturing stdout and stderr.
CommandResult runCommand(const std::vector<std::string>& argv, const std::string& input = {});

/// Polls `pred` until it holds or `timeout` passes. Never sleep in tests: wait for a condition.
bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
    std::chrono::milliseconds interval = std::chrono::milliseconds(10));

/// True when the process is root and can create network namespaces. Netns tests call
/// `requireNetns()` first; it exits the test binary with 77 (ctest: skipped) otherwise.
bool haveNetns();
void requireNetns();

} // namespace mudguard::test
