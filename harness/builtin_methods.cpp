#include "harness/builtin_methods.h"

#include <mutex>

#include "methods/animatelcm/animatelcm.h"
#include "methods/api/registry.h"
#include "methods/osv/osv.h"
#include "methods/sfv/sfv.h"
#include "methods/teacher/teacher.h"

namespace osv {

void register_builtin_methods() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& r = MethodRegistry::instance();
    register_teacher(r);
    register_animatelcm(r);
    register_sfv(r);
    register_osv(r);
  });
}

}  // namespace osv
