#include "mudguard/mudparser/JsonValidator.h"

#include "JsonInput.h"
#include "YangValidator.h"

namespace mudguard::mudparser {

struct JsonValidator::Impl {
    Impl(const std::filesystem::path& schemaDir, const std::vector<YangModule>& modules)
        : yang(schemaDir, modules)
    {
    }
    YangValidator yang;
};

JsonValidator::JsonValidator(const std::filesystem::path& schemaDir, const std::vector<YangModule>& modules)
    : m_impl(std::make_unique<Impl>(schemaDir, modules))
{
}

JsonValidator::~JsonValidator() = default;

Report JsonValidator::validate(std::string_view document, const std::string& fileName, const Limits& limits) const
{
    Report report;
    Sink sink(report, fileName);
    JsonInput input(document, limits, sink, "the document must be a JSON object");
    if (json::Document* doc = input.document())
        validateInRounds(m_impl->yang, *doc, input.text(), sink);
    sink.finish();
    return report;
}

} // namespace mudguard::mudparser
