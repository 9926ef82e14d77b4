#pragma once
// How commands print the diagnostics of documents they checked: one line per finding and a
// verdict per file for people, one JSON object for tools.

#include <ostream>
#include <string>
#include <vector>

#include "mudguard/mudparser/Diagnostic.h"

namespace mudguard::controller::cli {

struct FileOutcome {
    std::string file;
    mudparser::Report report;
    bool valid = false;
};

void printReportText(const FileOutcome& o, std::ostream& out);
/// {"files": [{"file", "valid", "errors", "warnings", "diagnostics": [...]}]}
void printReportJson(const std::vector<FileOutcome>& outcomes, std::ostream& out);

} // namespace mudguard::controller::cli
