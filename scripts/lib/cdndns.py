#!/usr/bin/env python3
"""An authoritative DNS server for the mudguard lab that answers like a CDN.

It serves one name (--name). The IPv4 address it gives depends on who asks: each --edge
PREFIX=ADDRESS maps a client network to the CDN's edge server for it, and the longest matching
prefix wins. The client is the address in the query's EDNS Client Subnet option (RFC 7871), which
the gateway's dnsmasq adds (--add-subnet), or else the query's source address. AAAA queries get
an empty answer, other names NXDOMAIN. With --log, one line per answer: client, type, address.
"""
import argparse
import ipaddress
import socket
import struct
import sys

TYPE_A, TYPE_AAAA, TYPE_OPT = 1, 28, 41
OPTION_CLIENT_SUBNET = 8


def read_name(msg, pos):
    labels = []
    while True:
        if pos >= len(msg):
            raise ValueError("name runs past the message")
        n = msg[pos]
        if n == 0:
            return ".".join(labels).lower(), pos + 1
        if n & 0xC0:
            raise ValueError("compressed names are not expected in queries")
        labels.append(msg[pos + 1 : pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n


def client_subnet(msg, pos, arcount):
    """The EDNS Client Subnet option of the additional section: (raw option data, address)."""
    for _ in range(arcount):
        _, pos = read_name(msg, pos)
        rtype, _, _, rdlen = struct.unpack_from("!HHIH", msg, pos)
        pos += 10
        rdata = msg[pos : pos + rdlen]
        pos += rdlen
        if rtype != TYPE_OPT:
            continue
        i = 0
        while i + 4 <= len(rdata):
            code, length = struct.unpack_from("!HH", rdata, i)
            data = rdata[i + 4 : i + 4 + length]
            i += 4 + length
            if code != OPTION_CLIENT_SUBNET or len(data) < 4:
                continue
            family, source = struct.unpack_from("!HB", data, 0)
            raw = data[4:]
            if family == 1:
                return data, ipaddress.IPv4Address(raw.ljust(4, b"\0")[:4])
            if family == 2:
                return data, ipaddress.IPv6Address(raw.ljust(16, b"\0")[:16])
    return None, None


def answer(query, peer, a):
    ident, flags, qdcount, _, _, arcount = struct.unpack_from("!6H", query, 0)
    if flags & 0x8000 or qdcount != 1:
        return None, None
    name, pos = read_name(query, 12)
    qtype, qclass = struct.unpack_from("!HH", query, pos)
    question = query[12 : pos + 4]
    ecs, client = client_subnet(query, pos + 4, arcount)
    if client is None:
        client = ipaddress.ip_address(peer[0])

    records = b""
    rcode = 0
    given = None
    if name != a.name:
        rcode = 3
    elif qtype == TYPE_A and qclass == 1:
        best = None
        for net, edge in a.edges:
            if client.version == net.version and client in net and (best is None or net.prefixlen > best[0].prefixlen):
                best = (net, edge)
        if best:
            given = best[1]
            records += struct.pack("!HHHIH", 0xC00C, TYPE_A, 1, a.ttl, 4) + given.packed
    opt = b""
    if ecs is not None:
        # The option comes back with the scope set to the source prefix: the answer is for that
        # client network only (dnsmasq checks that it matches what it sent).
        echoed = ecs[:3] + ecs[2:3] + ecs[4:]
        opt = b"\0" + struct.pack("!HHIH", TYPE_OPT, 1232, 0, 4 + len(echoed))
        opt += struct.pack("!HH", OPTION_CLIENT_SUBNET, len(echoed)) + echoed
    rd = flags & 0x0100
    header = struct.pack("!6H", ident, 0x8400 | rd | rcode, 1, 1 if records else 0, 0, 1 if opt else 0)
    return header + question + records + opt, (client, qtype, given)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, default=53)
    p.add_argument("--name", required=True)
    p.add_argument("--ttl", type=int, default=60)
    p.add_argument("--edge", action="append", default=[], help="PREFIX=ADDRESS")
    p.add_argument("--log")
    a = p.parse_args()
    a.name = a.name.lower().rstrip(".")
    a.edges = []
    for e in a.edge:
        net, _, addr = e.partition("=")
        a.edges.append((ipaddress.ip_network(net, strict=False), ipaddress.IPv4Address(addr)))

    s = socket.socket(socket.AF_INET6 if ":" in a.bind else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.bind, a.port))
    while True:
        query, peer = s.recvfrom(4096)
        try:
            reply, what = answer(query, peer, a)
        except (ValueError, struct.error) as e:
            print("cdndns: malformed query from %s: %s" % (peer[0], e), file=sys.stderr)
            continue
        if reply is None:
            continue
        s.sendto(reply, peer)
        if a.log:
            client, qtype, given = what
            with open(a.log, "a") as f:
                f.write("%s %s %s\n" % (client, "A" if qtype == TYPE_A else qtype, given or "-"))


if __name__ == "__main__":
    main()
