#include "methods/api/registry.h"

#include <fmt/format.h>

#include <stdexcept>

#include "common/errors.h"
#include "common/text.h"

namespace osv {

MethodRegistry& MethodRegistry::instance() {
  static MethodRegistry r;
  return r;
}

void MethodRegistry::add(MethodInfo info) {
  if (contains(info.name)) throw std::logic_error("method registered twice: " + info.name);
  methods_.push_back(std::move(info));
}

bool MethodRegistry::contains(const std::string& name) const {
  for (const auto& m : methods_)
    if (m.name == name) return true;
  return false;
}

const MethodInfo& MethodRegistry::get(const std::string& name) const {
  for (const auto& m : methods_)
    if (m.name == name) return m;
  throw UsageError(fmt::format("unknown method '{}'{}; known methods: {}", name, did_you_mean(name, names()),
                               join(names(), ", ")));
}

std::vector<std::string> MethodRegistry::names() const {
  std::vector<std::string> v;
  for (const auto& m : methods_) v.push_back(m.name);
  return v;
}

}  // namespace osv
