// The result documents: every schema documented in reports/README.md has an example under
// reports/examples/ that reads back through its typed struct unchanged (JSON in == JSON out), every
// top-level field of the example compare row is documented, wrong documents are refused with the
// file named, and each --format printer writes what it says.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <variant>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "harness/results.h"

namespace osv {
namespace {
namespace fs = std::filesystem;

const fs::path kReports = fs::path(OSVBENCH_SOURCE_DIR) / "reports";

// "osvbench.regress-baseline/1" -> "regress-baseline"
std::string example_name(const std::string& schema) {
  return schema.substr(std::string("osvbench.").size(), schema.find('/') - std::string("osvbench.").size());
}

std::vector<std::string> documented_schemas() {
  const std::string readme = read_file(kReports / "README.md");
  std::vector<std::string> out;
  const std::regex heading("^## `(osvbench\\.[a-z-]+/[0-9]+)`");
  std::istringstream in(readme);
  std::smatch m;
  for (std::string line; std::getline(in, line);)
    if (std::regex_search(line, m, heading)) out.push_back(m[1]);
  return out;
}

nlohmann::json to_json(const AnyResult& r) {
  return std::visit([](const auto& x) { return x.to_json(); }, r);
}

TEST(Results, EveryDocumentedSchemaRoundTripsItsExample) {
  const auto schemas = documented_schemas();
  ASSERT_EQ(schemas.size(), 5u) << "reports/README.md documents compare, ablate, regress-baseline, samples and reconstruct";
  for (const auto& s : schemas) {
    const fs::path file = kReports / "examples" / (example_name(s) + ".json");
    ASSERT_TRUE(fs::exists(file)) << s << " has no example " << file;
    const auto original = nlohmann::json::parse(read_file(file));
    EXPECT_EQ(original.at("schema"), s);
    const auto back = to_json(read_result(file));
    EXPECT_EQ(back, original) << file << ": the typed struct loses or adds fields:\n" << nlohmann::json::diff(original, back).dump(1);
  }
}

TEST(Results, EveryFieldOfTheExampleRowIsDocumented) {
  const std::string readme = read_file(kReports / "README.md");
  const auto section = readme.substr(0, readme.find("## `osvbench.ablate/1`"));
  const auto doc = nlohmann::json::parse(read_file(kReports / "examples" / "compare.json"));
  for (const auto& [key, value] : doc["rows"][0].items())
    EXPECT_TRUE(section.find("`" + key + "`") != std::string::npos ||
                section.find("`rows[]." + key + "`") != std::string::npos)
        << "row field '" << key << "' is not in reports/README.md";
  for (const auto& [key, value] : doc["rows"][0]["ci"].items())
    EXPECT_TRUE(section.find("`" + key + "`") != std::string::npos ||
                section.find("`ci." + key + "`") != std::string::npos)
        << "ci field '" << key << "' is not in reports/README.md";
}

TEST(Results, WrongDocumentsAreRefusedWithTheFileNamed) {
  const fs::path dir = fs::temp_directory_path() / "osvbench_test_results";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto error_of = [&](const std::string& name, const std::string& text) {
    atomic_write(dir / name, text);
    try {
      read_result(dir / name);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("a.json", "{\"rows\": [").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("b.json", R"({"schema": "osvbench.nope/1"})").find("b.json: schema 'osvbench.nope/1'"),
            std::string::npos);
  EXPECT_NE(error_of("c.json", R"({"schema": "osvbench.compare/1"})").find("c.json: field 'rows' is missing"),
            std::string::npos);
  EXPECT_NE(error_of("d.json", R"({"schema": "osvbench.compare/1", "rows": 3})").find("'rows' is not an array"),
            std::string::npos);
  EXPECT_NE(error_of("e.json", R"({"schema": "osvbench.regress-baseline/1", "preset": "tiny", "overrides": [],
                                   "tolerance": {"z": "x", "rel_floor": 0}, "rows": []})")
                .find("e.json"),
            std::string::npos);
  EXPECT_THROW(result_printer("csv"), UsageError);
  EXPECT_THROW(parse_formats({"md", "xml"}), UsageError);
}

TEST(Results, EachFormatWritesItsFile) {
  const auto any = read_result(kReports / "examples" / "compare.json");
  const auto& r = std::get<CompareResult>(any);
  const fs::path dir = fs::temp_directory_path() / "osvbench_test_results_formats";
  fs::remove_all(dir);
  const auto files = write_result(r, {"md", "json", "jsonl", "html"}, dir, "results", fs::path());
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].filename(), "results.md");
  EXPECT_NE(read_file(dir / "results.md").find("| teacher | euler | 2 | 3 | 4 | 379.54 |"), std::string::npos)
      << read_file(dir / "results.md");
  EXPECT_NE(read_file(dir / "results.md").find("refused: teacher tts"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "results.json")), r.to_json());
  const auto jsonl = read_file(dir / "results.jsonl");
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 1);
  EXPECT_EQ(nlohmann::json::parse(jsonl), r.rows[0]);
  EXPECT_NE(read_file(dir / "report.html").find("<html"), std::string::npos);
  // Only what was asked for.
  fs::remove_all(dir);
  write_result(r, {"jsonl"}, dir, "results", fs::path());
  EXPECT_TRUE(fs::exists(dir / "results.jsonl"));
  EXPECT_FALSE(fs::exists(dir / "results.json"));
  EXPECT_FALSE(fs::exists(dir / "report.html"));
  // An ablation: one measured row per jsonl line, with its label.
  const auto a = std::get<AblateResult>(read_result(kReports / "examples" / "ablate.json"));
  write_result(a, {"md", "jsonl"}, dir, "ablate", fs::path());
  EXPECT_EQ(read_file(dir / "ablate.md"), a.markdown);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "ablate.jsonl")).at("label"), a.measured[0].first);
}

// A row's training cost from the run behind its weights: the logged step seconds, steps x global
// batch from run.json, and the UNet passes the main rank logged times the world size (each rank
// makes its own share of the global batch). A run whose metrics predate the pass count has none.
TEST(Results, TrainCostScalesTheLoggedPassesByTheWorldSize) {
  const auto dir = fs::temp_directory_path() / "osvbench_test_train_cost";
  fs::remove_all(dir);
  const auto run = dir / "animatelcm-abc";
  fs::create_directories(run);
  atomic_write(run / "metrics.jsonl",
               "{\"step\":0,\"it_per_s\":2.0,\"student_passes\":2,\"teacher_passes\":4}\n"
               "{\"step\":1,\"it_per_s\":4.0,\"student_passes\":3,\"teacher_passes\":4}\n");
  atomic_write(run / "run.json", R"({"steps": 2, "data_parallel": {"world_size": 2, "global_batch": 4}})");
  nlohmann::json row = {{"weights", "animatelcm:" + (run / "unet.safetensors").string()}};
  add_train_cost(row, true);
  EXPECT_DOUBLE_EQ(row["train_s"].get<double>(), 0.75);
  EXPECT_EQ(row["train_steps"], 2);
  EXPECT_EQ(row["train_clip_steps"], 8);
  EXPECT_EQ(row["train_student_passes"], 10);
  EXPECT_EQ(row["train_teacher_passes"], 16);
  // One step without the count: the passes are unknown, not undercounted.
  atomic_write(run / "metrics.jsonl",
               "{\"step\":0,\"it_per_s\":2.0}\n{\"step\":1,\"it_per_s\":4.0,\"student_passes\":3,\"teacher_passes\":4}\n");
  nlohmann::json old = {{"weights", "animatelcm:" + (run / "unet.safetensors").string()}};
  add_train_cost(old, true);
  EXPECT_EQ(old["train_clip_steps"], 8);
  EXPECT_FALSE(old.contains("train_student_passes")) << old;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace osv
