#include "mudguard/mudparser/Diagnostic.h"

#include <algorithm>

#include <fmt/format.h>

namespace mudguard::mudparser {

bool Report::hasErrors() const { return count(Severity::Error) > 0; }

std::size_t Report::count(Severity s) const
{
    return static_cast<std::size_t>(
        std::count_if(diagnostics.begin(), diagnostics.end(), [s](const Diagnostic& d) { return d.severity == s; }));
}

const char* toString(Severity s)
{
    switch (s) {
    case Severity::Error:
        return "error";
    case Severity::Warning:
        return "warning";
    case Severity::Info:
        return "info";
    }
    return "?";
}

std::string formatText(const Diagnostic& d)
{
    std::string where = d.file.empty() ? std::string("-") : d.file;
    if (d.line) {
        where += fmt::format(":{}", *d.line);
        if (d.column)
            where += fmt::format(":{}", *d.column);
    }
    std::string out = fmt::format("{}: {}: {} [{}]", where, toString(d.severity), d.message, d.code);
    if (!d.path.empty())
        out += fmt::format(" (at {})", d.path);
    return out;
}

InvalidMud::InvalidMud(Report report)
    : Error(report.diagnostics.empty() ? std::string("invalid MUD file") : formatText(report.diagnostics.front()))
    , m_report(std::move(report))
{
}

} // namespace mudguard::mudparser
