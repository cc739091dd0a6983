#include "models/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "common/text.h"

namespace osv {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct DType {
  const char* name;
  torch::ScalarType type;
  std::size_t size;
};

constexpr DType kDTypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DType* find_dtype(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string shape_text(const std::vector<std::int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

}  // namespace

torch::ScalarType safetensors_dtype(const std::string& name) {
  const DType* d = find_dtype(name);
  if (!d) throw InputError(fmt::format("unsupported safetensors dtype '{}'", name));
  return d->type;
}

std::string safetensors_dtype_name(torch::ScalarType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.name;
  throw InputError(fmt::format("dtype {} cannot be stored in safetensors", c10::toString(t)));
}

struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  std::size_t size = 0;
  ~Mapping() {
    if (addr && size) ::munmap(addr, size);
  }
  const std::uint8_t* bytes() const { return static_cast<const std::uint8_t*>(addr); }
};

SafetensorsFile SafetensorsFile::open(const fs::path& path) {
  SafetensorsFile f;
  f.path_ = path;
  const std::string file = path.string();
  auto fail = [&](const std::string& what) -> InputError { return InputError(fmt::format("{}: {}", file, what)); };

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw fail(fmt::format("cannot stat: {}", std::strerror(errno)));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  f.map_ = std::make_shared<Mapping>();
  if (size > 0) {
    void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      ::close(fd);
      throw fail(fmt::format("cannot map: {}", std::strerror(errno)));
    }
    f.map_->addr = addr;
    f.map_->size = size;
  }
  ::close(fd);

  if (size < 8) throw fail(fmt::format("truncated: {} bytes, shorter than the 8-byte header length", size));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | f.map_->bytes()[i];
  if (n > kSafetensorsMaxHeader) throw fail(fmt::format("header length {} exceeds the {} byte limit", n, kSafetensorsMaxHeader));
  if (n > size - 8) throw fail(fmt::format("truncated: header claims {} bytes but only {} follow", n, size - 8));
  f.data_start_ = 8 + n;
  const std::uint64_t data_size = size - f.data_start_;

  // Nesting is bounded before parsing: a header of a million '[' must not exhaust the stack.
  if (json_nesting_depth(std::string_view(reinterpret_cast<const char*>(f.map_->bytes() + 8), n)) > kSafetensorsMaxDepth)
    throw fail(fmt::format("header nests deeper than {} levels", kSafetensorsMaxDepth));
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(f.map_->bytes() + 8),
                         reinterpret_cast<const char*>(f.map_->bytes() + 8 + n));
  } catch (const json::exception& e) {
    throw fail(fmt::format("header is not valid JSON: {}", e.what()));
  }
  if (!header.is_object()) throw fail("header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw fail("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m->is_string()) throw fail(fmt::format("__metadata__ value '{}' is not a string", m.key()));
        f.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { return fail(fmt::format("tensor '{}': {}", name, what)); };
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw bad("entry needs dtype, shape and data_offsets");
    SafetensorsEntry e;
    e.name = name;
    if (!v["dtype"].is_string()) throw bad("dtype is not a string");
    e.dtype = v["dtype"].get<std::string>();
    const DType* dt = find_dtype(e.dtype);
    if (!dt) throw bad(fmt::format("unsupported dtype '{}'", e.dtype));
    if (!v["shape"].is_array()) throw bad("shape is not an array");
    std::uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) throw bad("shape holds a non-integer or negative size");
      const auto dim = d.get<std::uint64_t>();
      if (dim != 0 && numel > UINT64_MAX / dim) throw bad("shape overflows");
      numel *= dim;
      e.shape.push_back(static_cast<std::int64_t>(dim));
    }
    const json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("data_offsets is not [begin, end]");
    e.begin = off[0].get<std::uint64_t>();
    e.end = off[1].get<std::uint64_t>();
    if (e.begin > e.end) throw bad(fmt::format("data_offsets [{}, {}] run backwards", e.begin, e.end));
    if (e.end > data_size)
      throw bad(fmt::format("data_offsets end {} lies past the {} data bytes in the file (truncated?)", e.end,
                            data_size));
    if (numel > UINT64_MAX / dt->size) throw bad("byte size overflows");
    if (e.end - e.begin != numel * dt->size)
      throw bad(fmt::format("{} bytes for {} {} of shape {} (needs {})", e.end - e.begin, numel, e.dtype,
                            shape_text(e.shape), numel * dt->size));
    f.index_[name] = f.entries_.size();
    f.entries_.push_back(std::move(e));
  }
  // No two tensors may share bytes: sorted by offset, each non-empty tensor must start at or after
  // the furthest end so far (an empty tensor between two others occupies nothing and hides nothing).
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : f.entries_)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  const SafetensorsEntry* furthest = nullptr;
  for (const auto* e : by_offset) {
    if (furthest && e->begin < furthest->end)
      throw fail(fmt::format("tensors '{}' and '{}' overlap", furthest->name, e->name));
    if (!furthest || e->end > furthest->end) furthest = e;
  }
  return f;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw InputError(fmt::format("{}: no tensor '{}'", path_.string(), name));
  return entries_[it->second];
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> v;
  for (const auto& e : entries_) v.push_back(e.name);
  return v;
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const auto& e = entry(name);
  auto t = torch::empty(e.shape, torch::TensorOptions().dtype(safetensors_dtype(e.dtype)));
  if (e.end > e.begin) {
    const auto* src = map_->bytes() + data_start_ + e.begin;
    // A bool byte other than 0 or 1 is undefined behaviour in C++ (and in torch's kernels).
    if (e.dtype == "BOOL")
      for (std::uint64_t i = 0; i < e.end - e.begin; ++i)
        if (src[i] > 1)
          throw InputError(fmt::format("{}: tensor '{}': BOOL byte {} is {} (must be 0 or 1)", path_.string(), name, i,
                                       static_cast<int>(src[i])));
    std::memcpy(t.data_ptr(), src, e.end - e.begin);
  }
  return t;
}

void save_safetensors(const fs::path& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> cpu;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (header.contains(name)) throw std::invalid_argument(fmt::format("save_safetensors: duplicate tensor '{}'", name));
    auto c = t.detach().to(torch::kCPU).contiguous();
    const auto bytes = static_cast<std::uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", safetensors_dtype_name(c.scalar_type())},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(std::move(c));
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // align the data buffer to 8 bytes, as the reference writer does
  atomic_write_with(path, [&](const ChunkWriter& w) {
    char len[8];
    std::uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    w(std::string_view(len, 8));
    w(h);
    for (const auto& c : cpu)
      w(std::string_view(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.numel()) * c.element_size()));
  });
}

SafetensorsCheckpoint SafetensorsCheckpoint::open(const fs::path& path) {
  SafetensorsCheckpoint c;
  c.path_ = path;
  fs::path p = path;
  if (fs::is_directory(p)) {
    const char* candidates[] = {"diffusion_pytorch_model.safetensors",
                                "model.safetensors",
                                "diffusion_pytorch_model.safetensors.index.json",
                                "model.safetensors.index.json",
                                "diffusion_pytorch_model.fp16.safetensors",  // the hub's fp16 variants
                                "model.fp16.safetensors",
                                "diffusion_pytorch_model.fp16.safetensors.index.json",
                                "model.fp16.safetensors.index.json"};
    fs::path found;
    for (const char* name : candidates)
      if (fs::exists(p / name)) {
        found = p / name;
        break;
      }
    if (found.empty())
      throw InputError(fmt::format("{}: no safetensors checkpoint (looked for {})", p.string(),
                                   "diffusion_pytorch_model[.fp16].safetensors, model[.fp16].safetensors or their .index.json"));
    p = found;
  }
  auto add = [&](const fs::path& file) {
    c.files_.push_back(SafetensorsFile::open(file));
    for (const auto& e : c.files_.back().entries()) {
      if (c.where_.count(e.name))
        throw InputError(fmt::format("{}: tensor '{}' appears in two shards", path.string(), e.name));
      c.where_[e.name] = c.files_.size() - 1;
    }
  };
  const std::string s = p.string();
  if (s.size() > 5 && s.substr(s.size() - 5) == ".json") {
    json idx;
    try {
      idx = json::parse(read_file(p));
    } catch (const json::exception& e) {
      throw InputError(fmt::format("{}: not valid JSON: {}", s, e.what()));
    }
    if (!idx.contains("weight_map") || !idx["weight_map"].is_object())
      throw InputError(fmt::format("{}: no weight_map object", s));
    std::map<std::string, std::string> shard_of;
    std::vector<std::string> shards;
    for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
      if (!it->is_string()) throw InputError(fmt::format("{}: weight_map['{}'] is not a file name", s, it.key()));
      const auto shard = it->get<std::string>();
      if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
        throw InputError(fmt::format("{}: shard name '{}' leaves the folder", s, shard));
      shard_of[it.key()] = shard;
      if (std::find(shards.begin(), shards.end(), shard) == shards.end()) shards.push_back(shard);
    }
    for (const auto& shard : shards) add(p.parent_path() / shard);
    for (const auto& [name, shard] : shard_of)
      if (!c.where_.count(name))
        throw InputError(fmt::format("{}: tensor '{}' is listed in '{}' but missing there", s, name, shard));
  } else {
    add(p);
  }
  return c;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> v;
  for (const auto& [n, _] : where_) v.push_back(n);
  return v;
}

torch::Tensor SafetensorsCheckpoint::tensor(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw InputError(fmt::format("{}: no tensor '{}'", path_.string(), name));
  return files_[it->second].tensor(name);
}

std::map<std::string, torch::Tensor> SafetensorsCheckpoint::all() const {
  std::map<std::string, torch::Tensor> m;
  for (const auto& [n, i] : where_) m[n] = files_[i].tensor(n);
  return m;
}

}  // namespace osv
