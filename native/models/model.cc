#include "models/model.h"

#include <map>

namespace nm {

namespace {

std::map<std::string, ModelFactory>& Registry() {
  static std::map<std::string, ModelFactory> registry;
  return registry;
}

}  // namespace

ModelRegistrar::ModelRegistrar(const char* name, ModelFactory factory) {
  Registry()[name] = factory;
}

std::unique_ptr<Model> CreateModel(const std::string& name, const ModelOptions& options) {
  auto it = Registry().find(name);
  if (it == Registry().end()) return nullptr;
  return it->second(options);
}

bool HasModel(const std::string& name) { return Registry().count(name) != 0; }

std::vector<std::string> ModelNames() {
  std::vector<std::string> names;
  for (const auto& entry : Registry()) names.push_back(entry.first);
  return names;
}

int Model::Open(SysError* error) {
  int r = ListenTcp(opt_.host, opt_.port, opt_.backlog, NonBlockingListener(), &listener_,
                    &endpoint_, error);
  if (r < 0) return r;
  return Prepare(error);
}

}  // namespace nm
