#include "addon.h"

namespace nm {

void InitServers(Napi::Env, Napi::Object) {}

}  // namespace nm
