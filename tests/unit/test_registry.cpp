#include <gtest/gtest.h>

#include "common/config.h"
#include "common/errors.h"
#include "harness/builtin_methods.h"
#include "methods/api/registry.h"

namespace osv {
namespace {

TEST(Registry, BuiltinMethodsAreRegisteredOnce) {
  register_builtin_methods();
  register_builtin_methods();
  EXPECT_EQ(MethodRegistry::instance().names(), (std::vector<std::string>{"teacher", "animatelcm", "sfv", "osv"}));
  EXPECT_THROW(MethodRegistry::instance().add(MethodInfo{"osv", "", "", {}, nullptr}), std::logic_error);
}

TEST(Registry, UnknownNameSuggestsAndListsKnownOnes) {
  register_builtin_methods();
  try {
    MethodRegistry::instance().get("animatelmc");
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("did you mean 'animatelcm'"), std::string::npos) << m;
    EXPECT_NE(m.find("known methods: teacher, animatelcm, sfv, osv"), std::string::npos) << m;
  }
}

TEST(Registry, DistilledMethodsNeedTheTeachersModels) {
  register_builtin_methods();
  const Config c = Config::resolve("tiny", {});
  for (const auto& name : {"osv", "animatelcm", "sfv"})
    EXPECT_THROW(MethodRegistry::instance().get(name).create(c, nullptr), InputError) << name;
}

}  // namespace
}  // namespace osv
