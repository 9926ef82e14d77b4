#include "cli/MudInput.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

namespace mudguard::controller::cli {

MudInput readMudInput(const std::string& name, std::size_t maxBytes)
{
    MudInput in;
    in.name = name;
    std::ifstream file;
    std::istream* stream = &std::cin;
    if (name != "-") {
        file.open(name, std::ios::binary);
        if (!file) {
            in.ioError = fmt::format("cannot open {}: {}", name, std::strerror(errno));
            return in;
        }
        stream = &file;
    }
    char buf[65536];
    while (in.content.size() <= maxBytes) {
        stream->read(buf, sizeof buf);
        auto n = static_cast<std::size_t>(stream->gcount());
        in.content.append(buf, std::min(n, maxBytes + 1 - in.content.size()));
        if (n < sizeof buf)
            break;
    }
    if (stream->bad())
        in.ioError = fmt::format("cannot read {}: {}", name, std::strerror(errno));
    return in;
}

mudparser::ParseResult parseMudInput(const mudparser::Parser& parser, const MudInput& input, mudparser::Mode mode)
{
    mudparser::ParseOptions options;
    options.mode = mode;
    options.fileName = input.name;
    if (input.content.size() > options.limits.maxDocumentBytes) {
        mudparser::ParseResult r;
        mudparser::Diagnostic d;
        d.code = "limit-size";
        d.file = input.name;
        d.message = fmt::format("the document is larger than the limit of {} bytes", options.limits.maxDocumentBytes);
        r.report.diagnostics.push_back(std::move(d));
        return r;
    }
    return parser.parse(input.content, options);
}

} // namespace mudguard::controller::cli
