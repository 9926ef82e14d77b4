#pragma once
// Validation of JSON documents against YANG modules with libyang, with libyang's error turned
// into a located Diagnostic: the JSON path, line and column come from the json::Document that
// was parsed from the same text, not from libyang's location sentence (which it only has in
// part). Reusable for any document the project validates with YANG (MUD files, and later the
// daemon's own configuration).
//
// libyang facts this relies on (see docs): LY_LOSTORE is set once per process; errors
// accumulate in the context, so they are cleaned before each parse; 2.1.30 reports only the
// first error; features must be enabled explicitly; modules nobody imports must be loaded.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/JsonValidator.h"

#include "Handles.h"
#include "Json.h"
#include "Sink.h"

namespace mudguard::mudparser {

/// Knowledge about the documents validated that makes messages clearer. Both are optional.
struct YangHints {
    /// What a leaf's value must look like, by leaf name ("a date and time with a time zone").
    std::function<std::string(std::string_view leaf)> valueFormat;
    /// The name an unknown member was probably meant to be ("ietf-mud:direction-initiated").
    std::function<std::string(std::string_view member, std::string_view parent)> memberSuggestion;
};

/// libyang's verdict on a document, located through its JSON model. The diagnostic's file is
/// left empty for the caller to fill.
struct YangFailure {
    Diagnostic diagnostic;
    json::NodeId node = json::kNoNode; ///< the node concerned, or the parent of a missing node
    bool missingNode = false; ///< the diagnostic names a node that does not exist
};

class YangValidator {
public:
    /// Builds the context from `schemaDir` (no search in the working directory, no
    /// ietf-yang-library data) and loads `modules` in order. Throws mudparser::Error.
    YangValidator(const std::filesystem::path& schemaDir, const std::vector<YangModule>& modules, YangHints hints = {});
    ~YangValidator();
    YangValidator(const YangValidator&) = delete;
    YangValidator& operator=(const YangValidator&) = delete;

    /// Validates `text`, which must be the JSON text of `doc` (verbatim, or as re-serialised
    /// by json::Document, which keeps every token on its line). nullopt means valid.
    std::optional<YangFailure> validate(const std::string& text, const json::Document& doc) const;

    const ly_ctx* context() const { return m_ctx.get(); }

private:
    YangFailure translate(const ly_err_item& e, const json::Document& doc) const;
    void locateMissing(std::string_view schemaPath, const json::Document& doc, YangFailure& f) const;
    const lysc_node* schemaNode(std::string_view dataPath) const;
    std::string describeValueError(
        std::string_view msg, std::string_view leaf, std::string_view value, const lysc_node* snode) const;

    LyContextPtr m_ctx;
    YangHints m_hints;
};

/// Validates `doc`, whose JSON text is `text`, reporting each libyang error through `sink`. After
/// an error the node concerned is removed from `doc` and the document validated again, at most
/// `maxRounds` times; an error at a path that already has one is not repeated. Returns true when
/// the last round passed.
bool validateInRounds(
    const YangValidator& validator, json::Document& doc, const std::string& text, Sink& sink, int maxRounds = 8);

} // namespace mudguard::mudparser
