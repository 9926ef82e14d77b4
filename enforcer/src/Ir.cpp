#include "mudguard/enforcer/Ir.h"

namespace mudguard::enforcer::ir {

const char* toString(TableFamily f) { return f == TableFamily::Inet ? "inet" : "bridge"; }

const char* toString(Hook h)
{
    switch (h) {
    case Hook::Forward:
        return "forward";
    case Hook::Input:
        return "input";
    case Hook::Output:
        return "output";
    }
    return "?";
}

std::size_t keyLength(KeyType k)
{
    switch (k) {
    case KeyType::EtherAddr:
        return 6;
    case KeyType::Ipv4Addr:
        return 4;
    case KeyType::Ipv6Addr:
        return 16;
    }
    return 0;
}

const SetDef* Table::findSet(std::string_view name) const
{
    for (const auto& s : sets)
        if (s.name == name)
            return &s;
    return nullptr;
}

const Chain* Table::findChain(std::string_view name) const
{
    for (const auto& c : chains)
        if (c.name == name)
            return &c;
    return nullptr;
}

std::string sanitize(std::string_view s, std::size_t maxLength)
{
    std::string out;
    out.reserve(std::min(s.size(), maxLength));
    for (char c : s) {
        if (out.size() >= maxLength)
            break;
        auto u = static_cast<unsigned char>(c);
        bool ok = u >= 0x20 && u < 0x7f && c != '"' && c != '\\' && c != '\'' && c != '$' && c != '`';
        out.push_back(ok ? c : '_');
    }
    return out;
}

} // namespace mudguard::enforcer::ir
