#pragma once
// A small JSON document model for untrusted input: parsed with a bounded RapidJSON SAX pass
// (iterative, depth- and size-capped, UTF-8 validated, duplicate members refused), every value
// remembering where it was written so that diagnostics can name a line and column. Nodes live
// in one arena and refer to each other by index; strings point into the source text whenever
// they were written without escapes, so that a typical MUD file costs no allocation per node.
//
// The model can be edited (rename a member, replace a value, remove a member) and written back
// with every remaining token on its original line, so that line numbers reported by a later
// parser of the rewritten text (libyang) still match the original file.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mudguard/mudparser/Limits.h"

namespace mudguard::mudparser::json {

enum class Type : std::uint8_t { Null, False, True, Number, String, Array, Object };

using NodeId = std::uint32_t;
inline constexpr NodeId kNoNode = UINT32_MAX;

struct Node {
    Type type = Type::Null;
    bool removed = false;
    NodeId parent = kNoNode;
    NodeId first = kNoNode; ///< first child (array element or object member)
    NodeId last = kNoNode;
    NodeId next = kNoNode; ///< next sibling
    std::uint32_t offset = 0; ///< first byte of the value in the source
    std::uint32_t keyOffset = 0; ///< first byte of the member name (object members only)
    std::string_view key; ///< member name, when the parent is an object
    std::string_view text; ///< string value, or a number exactly as written
};

/// Line and column (both 1-based; the column counts characters, not bytes).
struct Position {
    unsigned line = 1;
    unsigned column = 1;
};

/// Why parsing stopped. `code` is one of the stable diagnostic codes (json-syntax,
/// json-encoding, json-nul-character, limit-size, limit-depth, limit-string, limit-values).
struct ParseError {
    std::string code;
    std::string message;
    std::size_t offset = 0;
};

/// A second (or later) member of an object with a name already used there. The parser keeps
/// the first member and marks the duplicate removed.
struct DuplicateMember {
    NodeId node = kNoNode;
};

class Document {
public:
    /// Parses `source` (which must outlive the document) under `limits`. On failure returns
    /// nullopt and fills `error`.
    static std::optional<Document> parse(std::string_view source, const Limits& limits, ParseError& error);

    Document(Document&&) = default;
    Document& operator=(Document&&) = default;
    Document(const Document&) = delete;
    Document& operator=(const Document&) = delete;

    NodeId root() const { return m_nodes.empty() ? kNoNode : 0; }
    const Node& operator[](NodeId id) const { return m_nodes[id]; }
    std::size_t size() const { return m_nodes.size(); }
    std::string_view source() const { return m_source; }
    const std::vector<DuplicateMember>& duplicates() const { return m_duplicates; }

    bool isObject(NodeId id) const { return id != kNoNode && m_nodes[id].type == Type::Object; }
    bool isArray(NodeId id) const { return id != kNoNode && m_nodes[id].type == Type::Array; }
    bool isString(NodeId id) const { return id != kNoNode && m_nodes[id].type == Type::String; }
    bool isNumber(NodeId id) const { return id != kNoNode && m_nodes[id].type == Type::Number; }

    /// First child / next sibling, skipping removed nodes.
    NodeId firstChild(NodeId id) const;
    NodeId nextSibling(NodeId id) const;
    std::size_t childCount(NodeId id) const;
    /// The member called `key` of object `obj` (exact name), or kNoNode.
    NodeId member(NodeId obj, std::string_view key) const;
    /// The member of `obj` whose name is `name` or `<any module>:name`, or kNoNode.
    NodeId memberLocal(NodeId obj, std::string_view name) const;
    /// The string value of `id`, or nullopt when it is not a string.
    std::optional<std::string_view> string(NodeId id) const;
    /// The value as an unsigned integer when it is a JSON number written as one (no fraction,
    /// no exponent, in range); nullopt otherwise.
    std::optional<std::uint64_t> unsignedValue(NodeId id) const;

    /// Calls `f(id)` for every live object member whose name is module-qualified ("m:name"), in
    /// document order. A linear scan of the arena (which holds nodes in document order); `f` may
    /// remove the member it is given, and the scan then skips what was below it.
    template <typename F> void forEachQualifiedMember(F&& f) const
    {
        for (NodeId id = 1; id < m_nodes.size(); ++id) {
            const Node& n = m_nodes[id];
            if (n.key.find(':') == std::string_view::npos || m_nodes[n.parent].type != Type::Object)
                continue;
            if (m_anyRemoved && !isLive(id))
                continue;
            f(id);
        }
    }

    /// False when the node or one of its ancestors is removed.
    bool isLive(NodeId id) const
    {
        for (; id != kNoNode; id = m_nodes[id].parent)
            if (m_nodes[id].removed)
                return false;
        return true;
    }

    // --- Editing (each marks the document modified) ---
    void rename(NodeId id, std::string key);
    void setString(NodeId id, std::string value);
    void setNumber(NodeId id, std::string value);
    void setBool(NodeId id, bool value);
    void remove(NodeId id);
    /// Appends `member` with a string or raw JSON value to object `obj`; positioned at the
    /// object's opening line. Returns the new node.
    NodeId addMember(NodeId obj, std::string key, Type type, std::string text);
    bool modified() const { return m_modified; }

    /// The JSON text of the (possibly edited) document, every token on its original line.
    std::string serialize() const;
    /// Compact JSON of one value (for carrying extension data as-is).
    std::string compact(NodeId id) const;

    /// Where the node starts: the member name for object members that hold a container, the
    /// value otherwise.
    Position position(NodeId id) const;
    Position positionOfOffset(std::size_t offset) const;
    /// The first node whose value starts on `line`, or kNoNode.
    NodeId nodeOnLine(unsigned line) const;

    /// The node's path in libyang's data-path notation:
    /// /ietf-access-control-list:acls/acl[name='x']/aces/ace[name='y']/matches/ipv4/protocol.
    /// List entries are named by their "name" member, other array elements by 1-based position.
    /// Renamed members appear under the name the source gave them, so that the path leads to
    /// the text the author wrote.
    std::string pathOf(NodeId id) const;

    /// Follows a libyang data or schema path ("/m:a/b[k='v']/c") as far as the document goes.
    /// Returns the deepest node reached; `complete` tells whether every step was found.
    NodeId resolve(std::string_view path, bool& complete) const;

private:
    explicit Document(std::string_view source);
    std::string_view keep(std::string s);
    void serializeValue(NodeId id, std::string& out, unsigned& line, bool layout) const;
    void newlinesTo(std::uint32_t offset, std::string& out, unsigned& line) const;
    unsigned lineOf(std::uint32_t offset) const;

    friend class Builder;
    std::string_view m_source;
    std::vector<Node> m_nodes;
    std::deque<std::string> m_pool; ///< strings that are not verbatim in the source
    std::vector<DuplicateMember> m_duplicates;
    std::unordered_map<NodeId, std::string_view> m_originalKeys; ///< members renamed by an edit
    mutable std::vector<std::uint32_t> m_lineStarts; ///< built on first use
    bool m_modified = false;
    bool m_anyRemoved = false;
};

/// "name" of "module:name" (and of "name"): the part after the first colon.
inline std::string_view localName(std::string_view qualified)
{
    auto colon = qualified.find(':');
    return colon == std::string_view::npos ? qualified : qualified.substr(colon + 1);
}

/// "module" of "module:name"; empty without a colon.
inline std::string_view moduleName(std::string_view qualified)
{
    auto colon = qualified.find(':');
    return colon == std::string_view::npos ? std::string_view() : qualified.substr(0, colon);
}

/// Line and column of a byte offset of `source` (used before a Document exists).
Position positionIn(std::string_view source, std::size_t offset);

/// Appends `s` to `out` as a JSON string literal.
void appendQuoted(std::string& out, std::string_view s);

} // namespace mudguard::mudparser::json
