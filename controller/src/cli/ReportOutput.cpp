#include "cli/ReportOutput.h"

#include <algorithm>

#include <fmt/format.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "cli/Enforceability.h"

namespace mudguard::controller::cli {

void printReportText(const FileOutcome& o, std::ostream& out)
{
    for (const auto& d : o.report.diagnostics)
        out << mudparser::formatText(d) << '\n';
    auto errors = o.report.count(mudparser::Severity::Error);
    auto warnings = o.report.count(mudparser::Severity::Warning);
    auto unenforceable = static_cast<std::size_t>(std::count_if(o.report.diagnostics.begin(),
        o.report.diagnostics.end(), [](const mudparser::Diagnostic& d) { return d.code == kUnenforceableCode; }));
    if (o.valid)
        out << fmt::format("{}: valid ({} warning{})\n", o.file, warnings, warnings == 1 ? "" : "s");
    else if (unenforceable > 0 && unenforceable == errors)
        out << fmt::format("{}: cannot be enforced on this router ({} error{}, {} warning{})\n", o.file, errors,
            errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
    else
        out << fmt::format("{}: invalid ({} error{}, {} warning{})\n", o.file, errors, errors == 1 ? "" : "s", warnings,
            warnings == 1 ? "" : "s");
}

void printReportJson(const std::vector<FileOutcome>& outcomes, std::ostream& out)
{
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', 2);
    auto str = [&](const std::string& s) { w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size())); };
    w.StartObject();
    w.Key("files");
    w.StartArray();
    for (const auto& o : outcomes) {
        w.StartObject();
        w.Key("file");
        str(o.file);
        w.Key("valid");
        w.Bool(o.valid);
        w.Key("errors");
        w.Uint64(o.report.count(mudparser::Severity::Error));
        w.Key("warnings");
        w.Uint64(o.report.count(mudparser::Severity::Warning));
        w.Key("diagnostics");
        w.StartArray();
        for (const auto& d : o.report.diagnostics) {
            w.StartObject();
            w.Key("severity");
            w.String(mudparser::toString(d.severity));
            w.Key("code");
            str(d.code);
            w.Key("message");
            str(d.message);
            w.Key("path");
            str(d.path);
            w.Key("line");
            d.line ? w.Uint(*d.line) : w.Null();
            w.Key("column");
            d.column ? w.Uint(*d.column) : w.Null();
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    out << buf.GetString() << '\n';
}

} // namespace mudguard::controller::cli
