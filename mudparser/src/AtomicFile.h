#pragma once
// Crash-safe file replacement for the state directory: a crash leaves either the old or the new
// file, never a half-written one.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace mudguard::mudparser::detail {

/// Writes a temporary file next to `path`, fsyncs it, renames it over `path` and fsyncs the
/// directory. Throws mudparser::Error on failure (the old file is then untouched).
void writeFileAtomically(const std::filesystem::path& path, std::string_view content);

/// Appends one line and fsyncs (append-only logs). Throws mudparser::Error on failure.
void appendLine(const std::filesystem::path& path, std::string_view line);

/// The whole file, or nullopt when it does not exist. Throws mudparser::Error when it exists but
/// cannot be read.
std::optional<std::string> readWholeFile(const std::filesystem::path& path);

/// Creates `dir` (and its parents) when missing. Throws mudparser::Error naming `what` ("the cache
/// directory") on failure.
void createDirectories(const std::filesystem::path& dir, const char* what);

/// True for the temporary files writeFileAtomically leaves behind when interrupted.
bool isTemporaryFile(const std::filesystem::path& path);

} // namespace mudguard::mudparser::detail
