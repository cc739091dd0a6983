// The result documents osvbench writes, one struct per kind with one JSON (de)serialiser each
// (the schemas: reports/README.md; an example of each under reports/examples/, round-tripped by
// tests/unit/test_results.cpp), and the printers that write them in the formats `--format` names.
//
// A row (one measured (method, sampler, steps, cfg)) stays a JSON object: its fields are written by
// the Evaluator and documented field by field in reports/README.md.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace osv {

// osvbench.compare/1: `compare`'s and `regress`'s results.
struct CompareResult {
  static constexpr const char* kSchema = "osvbench.compare/1";
  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::string> refused;  // "<row>: <reason>"
  nlohmann::json provenance = nlohmann::json::object();

  nlohmann::json to_json() const;
  // InputError naming `where` when the document is not this schema or a field is missing.
  static CompareResult from_json(const nlohmann::json& j, const std::string& where);
};

// osvbench.ablate/1: `ablate`'s table with its measured and refused rows.
struct AblateResult {
  static constexpr const char* kSchema = "osvbench.ablate/1";
  nlohmann::json table = nlohmann::json::object();                  // the table as compiled in
  std::string markdown;                                             // the printed table
  std::vector<std::pair<std::string, nlohmann::json>> measured;     // label -> row
  std::vector<std::pair<std::string, std::string>> refused;         // label -> reason
  nlohmann::json provenance = nlohmann::json::object();

  nlohmann::json to_json() const;
  static AblateResult from_json(const nlohmann::json& j, const std::string& where);
};

// osvbench.regress-baseline/1: the FVD gate's baseline.
struct RegressBaseline {
  static constexpr const char* kSchema = "osvbench.regress-baseline/1";
  std::string preset;
  std::vector<std::string> overrides;
  double z = 0, rel_floor = 0;                        // the tolerance
  nlohmann::json rows = nlohmann::json::array();      // the kept fields of each row
  nlohmann::json assets = nlohmann::json::array();    // {asset, sha256} in build order
  nlohmann::json provenance = nlohmann::json::object();

  nlohmann::json to_json() const;
  static RegressBaseline from_json(const nlohmann::json& j, const std::string& where);
};

// osvbench.samples/1: `sample`'s samples.json.
struct SamplesResult {
  static constexpr const char* kSchema = "osvbench.samples/1";
  std::string method, sampler, weights;
  int steps = 0;
  nlohmann::json cfg = "none";  // "none" or w_max
  int64_t nfe = 0, clips = 0;
  double seconds = 0;
  nlohmann::json inputs = "test split";  // "test split" or the image paths
  nlohmann::json provenance = nlohmann::json::object();

  nlohmann::json to_json() const;
  static SamplesResult from_json(const nlohmann::json& j, const std::string& where);
};

// `osvbench reconstruct`'s results.json: one row, the VAE's reconstructions of the held-out clips
// scored like a compare row (with `floor` and `ratio_to_floor` unless --no-floor).
struct ReconstructResult {
  static constexpr const char* kSchema = "osvbench.reconstruct/1";
  nlohmann::json row = nlohmann::json::object();

  nlohmann::json to_json() const;
  static ReconstructResult from_json(const nlohmann::json& j, const std::string& where);
};

// Reads a result file of any kind above (by its schema field); InputError when it is none of them.
using AnyResult = std::variant<CompareResult, AblateResult, RegressBaseline, SamplesResult, ReconstructResult>;
AnyResult read_result(const std::filesystem::path& file);

// The markdown table of compare rows (what compare and regress print).
std::string rows_markdown(const nlohmann::json& rows);

// One output format of a compare or ablate result.
class ResultPrinter {
 public:
  virtual ~ResultPrinter() = default;
  virtual std::string format() const = 0;     // md, json, jsonl or html
  // The file it writes for a result whose files are named <stem>.*: results.md, results.json,
  // results.jsonl; the HTML is always report.html.
  virtual std::string file_name(const std::string& stem) const = 0;
  // `runs_root` is where the HTML report finds the training curves of the runs behind the rows.
  virtual std::string render(const CompareResult& r, const std::filesystem::path& runs_root) const = 0;
  virtual std::string render(const AblateResult& r, const std::filesystem::path& runs_root) const = 0;
};

// The printer of a format; UsageError naming the known ones otherwise.
const ResultPrinter& result_printer(const std::string& format);
// Checks a --format list (UsageError on an unknown format).
std::vector<std::string> parse_formats(const std::vector<std::string>& formats);

// Writes `r` in every format (atomically) under `dir`; returns the files written.
std::vector<std::filesystem::path> write_result(const CompareResult& r, const std::vector<std::string>& formats,
                                                const std::filesystem::path& dir, const std::string& stem,
                                                const std::filesystem::path& runs_root);
std::vector<std::filesystem::path> write_result(const AblateResult& r, const std::vector<std::string>& formats,
                                                const std::filesystem::path& dir, const std::string& stem,
                                                const std::filesystem::path& runs_root);

// The training cost of the run behind a row's weights: `seconds`, the sum of its metrics.jsonl step
// times (checkpoint writes and data encoding excluded); `steps`, its run.json (or stage.json) optimiser steps
// of the student (discriminator steps and teacher passes not counted); `clip_steps`, steps x the global
// batch — the budget `compare` equalises between the distilled methods. Absent when the row's
// weights name no run with a metrics file (the teacher: an asset, not a run). With
// `with_previous`, a run that continues another (OSV stage 2, whose key.json names stage 1's run)
// includes that run's cost: the whole cost of the weights (compare rows); without, the last stage's
// alone (ablate's convergence figures).
// `student_passes` / `teacher_passes`: the whole UNet forward passes its steps made, in clips,
// as the modules counted them (the student's EMA target is a student pass; every CFG branch of the
// teacher a teacher pass; OSV's probe of fixed latents, logged every checkpoint interval, is a
// student pass; SF-V's discriminator, a UNet encoder, is neither) — absent for runs
// whose metrics predate the count.
struct TrainCost {
  double seconds = 0;
  int64_t steps = 0, clip_steps = 0, student_passes = 0, teacher_passes = 0;
  bool has_steps = false;   // every run's summary stated its steps
  bool has_passes = false;  // every step of every run logged its passes
};
std::optional<TrainCost> train_cost(const nlohmann::json& row, bool with_previous);
// Sets a row's train_s, train_steps, train_clip_steps, train_student_passes and
// train_teacher_passes from train_cost (unless it has train_s).
void add_train_cost(nlohmann::json& row, bool with_previous);

// The HTML report's inputs: result documents (each with the folder its relative video paths are
// under) and the training curves of every run under `runs_root` (reports/html_report.h).
struct ReportInputs;
ReportInputs report_inputs(const std::vector<std::pair<nlohmann::json, std::filesystem::path>>& docs,
                           const std::filesystem::path& runs_root);

}  // namespace osv
