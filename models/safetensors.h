// safetensors: the on-disk format of every checkpoint osvbench reads or writes.
//
// File layout: u64 little-endian header length N, N bytes of JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data buffer; offsets are relative to the buffer start.
//
// Reading memory-maps the file and checks, before any tensor is touched: the header length
// (<= 100 MB and inside the file), the JSON, every dtype and shape, offsets inside the data
// buffer, byte length = dtype size x element count (overflow-checked) and no two tensors
// overlapping. Every error is an osv::InputError naming the file and the tensor.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace osv {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;             // "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;       // offsets into the data buffer
  std::uint64_t end = 0;
};

// Largest header accepted (the reference implementation's limit).
inline constexpr std::uint64_t kSafetensorsMaxHeader = 100'000'000;
// Deepest nesting of [ and { accepted in a header (a valid one nests 3 deep).
inline constexpr int kSafetensorsMaxDepth = 32;

class SafetensorsFile {
 public:
  // Throws osv::InputError (file and tensor named) for anything malformed.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // in file order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  const SafetensorsEntry& entry(const std::string& name) const;
  // An owning CPU tensor with a copy of the data.
  torch::Tensor tensor(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  struct Mapping;
  std::filesystem::path path_;
  std::shared_ptr<Mapping> map_;
  std::uint64_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors (any device, contiguous or not) atomically; names must be unique.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// A checkpoint that may be one file, a sharded `*.safetensors.index.json`, or a folder holding
// either (diffusion_pytorch_model.safetensors, model.safetensors, or their index).
class SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint open(const std::filesystem::path& path);
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return where_.count(name) > 0; }
  torch::Tensor tensor(const std::string& name) const;
  const std::filesystem::path& path() const { return path_; }
  std::map<std::string, torch::Tensor> all() const;

 private:
  std::filesystem::path path_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t> where_;
};

// safetensors dtype name <-> torch scalar type. Throws osv::InputError for unknown names.
torch::ScalarType safetensors_dtype(const std::string& name);
std::string safetensors_dtype_name(torch::ScalarType t);

}  // namespace osv
