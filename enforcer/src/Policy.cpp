#include "mudguard/enforcer/Policy.h"
