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

// compare --budget / --budget-matched read each method's budget from its registration: every method
// that trains (has `train`) names integer config keys summing to its student steps, so a new
// distilled method cannot be left out of the equal-budget check; the teacher has none.
TEST(Registry, EveryTrainedMethodNamesItsBudgetKeys) {
  register_builtin_methods();
  const Config c = Config::resolve("small", {});
  for (const auto& name : MethodRegistry::instance().names()) {
    const auto& m = MethodRegistry::instance().get(name);
    EXPECT_EQ(static_cast<bool>(m.train), !m.budget_keys.empty()) << name;
    for (const auto& k : m.budget_keys) EXPECT_GT(c.get<long long>(k), 0) << name << " " << k;
  }
  EXPECT_EQ(MethodRegistry::instance().get("osv").budget_keys,
            (std::vector<std::string>{"osv.stage1_iters", "osv.stage2_iters"}));
}

}  // namespace
}  // namespace osv
