#pragma once
// A tiny writer of hand-made DNS messages, shared by the DNS tests.

#include <cstdint>
#include <string_view>
#include <vector>

#include "mudguard/controller/Dns.h"

namespace mudguard::controller::dns {

using Bytes = std::vector<std::uint8_t>;

// A tiny writer for hand-made messages.
struct Wire {
    Bytes b;
    Wire& u8(unsigned v)
    {
        b.push_back(static_cast<std::uint8_t>(v));
        return *this;
    }
    Wire& u16(unsigned v) { return u8(v >> 8).u8(v & 0xff); }
    Wire& u32(std::uint32_t v) { return u16(v >> 16).u16(v & 0xffff); }
    Wire& raw(const Bytes& v)
    {
        b.insert(b.end(), v.begin(), v.end());
        return *this;
    }
    // Labels of `name`, then the root, or a pointer to `ptr` instead of the root.
    Wire& name(std::string_view n, int ptr = -1)
    {
        while (!n.empty()) {
            auto dot = n.find('.');
            auto label = n.substr(0, dot);
            u8(static_cast<unsigned>(label.size()));
            b.insert(b.end(), label.begin(), label.end());
            n = dot == std::string_view::npos ? std::string_view {} : n.substr(dot + 1);
        }
        return ptr >= 0 ? pointer(static_cast<unsigned>(ptr)) : u8(0);
    }
    // An EDNS OPT record (RFC 6891) advertising `udpSize`.
    Wire& opt(unsigned udpSize) { return u8(0).u16(41).u16(udpSize).u32(0).u16(0); }
    Wire& pointer(unsigned off) { return u16(0xc000 | off); }
    Wire& header(unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns = 0, unsigned ar = 0)
    {
        return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
    }
    Wire& question(std::string_view n, Type t) { return name(n).u16(static_cast<unsigned>(t)).u16(kClassIn); }
    // A record owned by the name at `ownerPtr`.
    Wire& a(unsigned ownerPtr, std::uint32_t ttl, Bytes addr)
    {
        pointer(ownerPtr).u16(addr.size() == 4 ? 1 : 28).u16(kClassIn).u32(ttl).u16(static_cast<unsigned>(addr.size()));
        return raw(addr);
    }
};

constexpr unsigned kResponse = 0x8180; // QR, RD, RA, NOERROR
constexpr unsigned kQname = 12; // the question's name starts right after the header

} // namespace mudguard::controller::dns
