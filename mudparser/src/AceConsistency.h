#pragma once
// Contradictions inside one ACE that YANG cannot see: matches of different layers that no
// packet satisfies together. Each is an error located at the match that contradicts the rest:
//  * acl-type-conflict: an ipv4 (ipv6) match in an ACL of type ipv6-acl-type (ipv4-acl-type);
//  * ethertype-conflict: an eth ethertype of one IP version with the other version's match or
//    ACL type, or a non-IP ethertype (ARP, EAPOL, LLDP, ...) with IP, TCP, UDP or ICMP matches;
//  * protocol-conflict: an ipv4/ipv6 protocol that contradicts the tcp, udp or icmp match, or
//    ICMP of the other IP version (protocol 58 with ipv4, 1 with ipv6).
// Runs on the typed profile, so that values are read as the rest of mudguard reads them.

#include "mudguard/mudparser/Profile.h"

#include "Json.h"
#include "Sink.h"

namespace mudguard::mudparser {

/// Reports every contradictory ACE of `profile`, which was built from `doc`.
void checkAceConsistency(const json::Document& doc, const Profile& profile, Sink& sink);

} // namespace mudguard::mudparser
