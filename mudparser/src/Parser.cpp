#include "mudguard/mudparser/Parser.h"

#include "mudguard/Config.h"

namespace mudguard::mudparser {

struct Parser::Impl {
};

Parser::Parser(const std::filesystem::path& schemaDir)
    : m_impl(std::make_unique<Impl>())
{
    (void)schemaDir;
}

Parser::~Parser() = default;

ParseResult Parser::parse(std::string_view document, const ParseOptions& options) const
{
    (void)document;
    ParseResult r;
    r.report.diagnostics.push_back({Severity::Error, "not-implemented", "parsing is not implemented yet", options.fileName});
    return r;
}

Profile Parser::parseOrThrow(std::string_view document, const ParseOptions& options) const
{
    auto r = parse(document, options);
    if (!r.profile)
        throw InvalidMud(std::move(r.report));
    return std::move(*r.profile);
}

std::filesystem::path Parser::defaultSchemaDir()
{
    std::filesystem::path src = config::kSchemaSourceDir;
    if (std::filesystem::exists(src / "ietf-mud@2019-01-28.yang"))
        return src;
    return config::kSchemaInstallDir;
}

} // namespace mudguard::mudparser
