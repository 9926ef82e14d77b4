// libFuzzer target for the MUD parser: bytes in, a Profile or a report out, in both modes.
// Nothing may crash, hang, leak or trip a sanitizer, and a profile comes exactly with a report
// free of errors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mudguard/mudparser/Parser.h"

using namespace mudguard::mudparser;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static const Parser parser;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    for (Mode mode : { Mode::Strict, Mode::Lenient }) {
        ParseOptions options;
        options.mode = mode;
        auto result = parser.parse(text, options);
        if (result.profile.has_value() == result.report.hasErrors())
            std::abort();
        for (const auto& d : result.report.diagnostics)
            if (d.code.empty() || d.message.empty())
                std::abort();
    }
    return 0;
}
