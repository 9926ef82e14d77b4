#pragma once
// A MUD profile in plain language: what the device may reach, ACE by ACE and summed up per
// direction, with what the file says about the device. The CLI (`mudguard show`, `fetch`) prints
// it; the API and the console show the same text.

#include <string>
#include <utility>
#include <vector>

#include "mudguard/mudparser/Profile.h"

namespace mudguard::controller::text {

/// "accept", "drop" or "reject".
const char* actionName(mudparser::Action a);

/// One ACE in words, seen from the device ("accept tcp, to www.example.com, port 443, ...").
std::string describeAce(const mudparser::Ace& ace, bool fromDevice);

struct ProfileText {
    /// What the file says about itself: label and value ("MUD URL", "Maker", "SBOM", ...).
    std::vector<std::pair<std::string, std::string>> facts;
    struct Acl {
        std::string name, type; ///< type: "ipv4", "eth+ipv6", ...
        std::vector<std::pair<std::string, std::string>> aces; ///< name, in words
    };
    struct Direction {
        std::string title; ///< "From the device", "To the device"
        std::vector<Acl> acls; ///< empty: no policy in this direction
        std::vector<std::string> peers, protocols, ports, initiated;
    };
    Direction fromDevice, toDevice;
};

ProfileText describeProfile(const mudparser::Profile& profile);

/// The text as `mudguard show` prints it, a line each (blank lines between the parts).
std::vector<std::string> lines(const ProfileText& text);

} // namespace mudguard::controller::text
