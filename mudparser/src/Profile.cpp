#include "mudguard/mudparser/Profile.h"

namespace mudguard::mudparser {

const Acl* Profile::findAcl(const std::string& name) const
{
    for (const auto& acl : acls)
        if (acl.name == name)
            return &acl;
    return nullptr;
}

} // namespace mudguard::mudparser
