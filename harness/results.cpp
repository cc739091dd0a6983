#include "harness/results.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "harness/regress.h"
#include "reports/html_report.h"

namespace osv {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void check_schema(const json& j, const char* schema, const std::string& where) {
  if (!j.is_object() || j.value("schema", "") != schema)
    throw InputError(fmt::format("{}: not an {} document (its schema: '{}')", where, schema,
                                 j.is_object() ? j.value("schema", "") : std::string("not an object")));
}

// j.at(key) with the document named in the error.
const json& field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw InputError(fmt::format("{}: field '{}' is missing", where, key));
  return j.at(key);
}

template <class F>
auto parse_fields(const std::string& where, F&& f) {
  try {
    return f();
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: {}", where, e.what()));
  }
}

std::string cfg_text(const json& cfg) { return cfg.is_string() ? cfg.get<std::string>() : fmt::format("{}", cfg.get<double>()); }

std::string fmt_ci(const json& r) {
  if (!r.contains("ci")) return "-";
  return fmt::format("[{:.2f}, {:.2f}]", r["ci"]["low"].get<double>(), r["ci"]["high"].get<double>());
}

class MdPrinter : public ResultPrinter {
 public:
  std::string format() const override { return "md"; }
  std::string file_name(const std::string& stem) const override { return stem + ".md"; }
  std::string render(const CompareResult& r, const fs::path&) const override {
    std::string s = rows_markdown(r.rows);
    for (const auto& x : r.refused) s += "refused: " + x + "\n";
    return s;
  }
  std::string render(const AblateResult& r, const fs::path&) const override { return r.markdown; }
};

class JsonPrinter : public ResultPrinter {
 public:
  std::string format() const override { return "json"; }
  std::string file_name(const std::string& stem) const override { return stem + ".json"; }
  std::string render(const CompareResult& r, const fs::path&) const override { return r.to_json().dump(2) + "\n"; }
  std::string render(const AblateResult& r, const fs::path&) const override { return r.to_json().dump(2) + "\n"; }
};

// One row per line: a compare's rows; an ablation's measured rows with their label.
class JsonlPrinter : public ResultPrinter {
 public:
  std::string format() const override { return "jsonl"; }
  std::string file_name(const std::string& stem) const override { return stem + ".jsonl"; }
  std::string render(const CompareResult& r, const fs::path&) const override {
    std::string s;
    for (const auto& row : r.rows) s += row.dump() + "\n";
    return s;
  }
  std::string render(const AblateResult& r, const fs::path&) const override {
    std::string s;
    for (const auto& [label, row] : r.measured) s += json{{"label", label}, {"result", row}}.dump() + "\n";
    return s;
  }
};

class HtmlPrinter : public ResultPrinter {
 public:
  std::string format() const override { return "html"; }
  std::string file_name(const std::string&) const override { return "report.html"; }
  std::string render(const CompareResult& r, const fs::path& root) const override {
    return render_html_report(report_inputs({{r.to_json(), fs::path()}}, root));
  }
  std::string render(const AblateResult& r, const fs::path& root) const override {
    return render_html_report(report_inputs({{r.to_json(), fs::path()}}, root));
  }
};

const std::vector<const ResultPrinter*>& printers() {
  static const MdPrinter md;
  static const JsonPrinter js;
  static const JsonlPrinter jl;
  static const HtmlPrinter html;
  static const std::vector<const ResultPrinter*> all = {&md, &js, &jl, &html};
  return all;
}

std::vector<std::pair<double, double>> loss_curve(const fs::path& metrics) {
  std::vector<std::pair<double, double>> pts;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    try {
      const auto j = json::parse(line);
      if (j.contains("step") && j.contains("loss") && j["loss"].is_number())
        pts.emplace_back(j["step"].get<double>(), j["loss"].get<double>());
    } catch (const json::exception&) {  // a torn last line of a killed run
    }
  }
  return pts;
}


template <class R>
std::vector<fs::path> write_any(const R& r, const std::vector<std::string>& formats, const fs::path& dir,
                                const std::string& stem, const fs::path& root) {
  std::vector<fs::path> written;
  fs::create_directories(dir);
  for (const auto& f : parse_formats(formats)) {
    const auto& p = result_printer(f);
    const fs::path file = dir / p.file_name(stem);
    atomic_write(file, p.render(r, root));
    written.push_back(file);
  }
  return written;
}

}  // namespace

json CompareResult::to_json() const {
  return {{"schema", kSchema}, {"rows", rows}, {"refused", refused}, {"provenance", provenance}};
}

CompareResult CompareResult::from_json(const json& j, const std::string& where) {
  check_schema(j, kSchema, where);
  return parse_fields(where, [&] {
    CompareResult r;
    r.rows = field(j, "rows", where);
    if (!r.rows.is_array()) throw InputError(fmt::format("{}: 'rows' is not an array", where));
    r.refused = j.value("refused", json::array()).get<std::vector<std::string>>();
    r.provenance = j.value("provenance", json::object());
    return r;
  });
}

json AblateResult::to_json() const {
  json ms = json::array(), rf = json::array();
  for (const auto& [label, row] : measured) ms.push_back({{"label", label}, {"result", row}});
  for (const auto& [label, why] : refused) rf.push_back({{"label", label}, {"reason", why}});
  return {{"schema", kSchema}, {"table", table},    {"markdown", markdown},
          {"measured", ms},    {"refused", rf},     {"provenance", provenance}};
}

AblateResult AblateResult::from_json(const json& j, const std::string& where) {
  check_schema(j, kSchema, where);
  return parse_fields(where, [&] {
    AblateResult r;
    r.table = field(j, "table", where);
    r.markdown = j.value("markdown", "");
    for (const auto& m : field(j, "measured", where))
      r.measured.emplace_back(m.at("label").get<std::string>(), m.at("result"));
    for (const auto& m : j.value("refused", json::array()))
      r.refused.emplace_back(m.at("label").get<std::string>(), m.at("reason").get<std::string>());
    r.provenance = j.value("provenance", json::object());
    return r;
  });
}

json RegressBaseline::to_json() const {
  return {{"schema", kSchema},
          {"preset", preset},
          {"overrides", overrides},
          {"tolerance", {{"z", z}, {"rel_floor", rel_floor}}},
          {"rows", rows},
          {"assets", assets},
          {"provenance", provenance}};
}

RegressBaseline RegressBaseline::from_json(const json& j, const std::string& where) {
  check_schema(j, kSchema, where);
  return parse_fields(where, [&] {
    RegressBaseline b;
    b.preset = field(j, "preset", where).get<std::string>();
    b.overrides = field(j, "overrides", where).get<std::vector<std::string>>();
    const auto& t = field(j, "tolerance", where);
    b.z = t.at("z").get<double>();
    b.rel_floor = t.at("rel_floor").get<double>();
    b.rows = field(j, "rows", where);
    if (!b.rows.is_array()) throw InputError(fmt::format("{}: 'rows' is not an array", where));
    b.assets = j.value("assets", json::array());
    b.provenance = j.value("provenance", json::object());
    return b;
  });
}

json SamplesResult::to_json() const {
  return {{"schema", kSchema}, {"method", method}, {"sampler", sampler}, {"steps", steps},
          {"cfg", cfg},        {"nfe", nfe},       {"clips", clips},     {"seconds", seconds},
          {"weights", weights}, {"inputs", inputs}, {"provenance", provenance}};
}

SamplesResult SamplesResult::from_json(const json& j, const std::string& where) {
  check_schema(j, kSchema, where);
  return parse_fields(where, [&] {
    SamplesResult s;
    s.method = field(j, "method", where).get<std::string>();
    s.sampler = field(j, "sampler", where).get<std::string>();
    s.steps = field(j, "steps", where).get<int>();
    s.cfg = field(j, "cfg", where);
    s.nfe = field(j, "nfe", where).get<int64_t>();
    s.clips = field(j, "clips", where).get<int64_t>();
    s.seconds = field(j, "seconds", where).get<double>();
    s.weights = field(j, "weights", where).get<std::string>();
    s.inputs = field(j, "inputs", where);
    s.provenance = j.value("provenance", json::object());
    return s;
  });
}

json ReconstructResult::to_json() const { return {{"schema", kSchema}, {"row", row}}; }

ReconstructResult ReconstructResult::from_json(const json& j, const std::string& where) {
  check_schema(j, kSchema, where);
  return parse_fields(where, [&] {
    ReconstructResult r;
    r.row = field(j, "row", where);
    if (!r.row.is_object()) throw InputError(fmt::format("{}: 'row' is not an object", where));
    for (const char* k : {"fvd", "n_real", "n_fake", "pixel_mse"}) field(r.row, k, where + ": row").get<double>();
    return r;
  });
}

AnyResult read_result(const fs::path& file) {
  json doc;
  try {
    doc = json::parse(read_file(file));
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", file.string(), e.what()));
  }
  const auto schema = doc.is_object() ? doc.value("schema", "") : std::string();
  const auto where = file.string();
  if (schema == CompareResult::kSchema) return CompareResult::from_json(doc, where);
  if (schema == AblateResult::kSchema) return AblateResult::from_json(doc, where);
  if (schema == RegressBaseline::kSchema) return RegressBaseline::from_json(doc, where);
  if (schema == SamplesResult::kSchema) return SamplesResult::from_json(doc, where);
  if (schema == ReconstructResult::kSchema) return ReconstructResult::from_json(doc, where);
  throw InputError(fmt::format("{}: schema '{}' is none of {}, {}, {}, {}, {}", where, schema, CompareResult::kSchema,
                               AblateResult::kSchema, RegressBaseline::kSchema, SamplesResult::kSchema,
                               ReconstructResult::kSchema));
}

std::string rows_markdown(const json& rows) {
  std::string s =
      "| method | sampler | steps | cfg | NFE | FVD | 95% CI | N | s/clip | clips/s | peak RSS MiB | train steps x batch | "
      "train UNet passes (student / teacher) | train s |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows)
    s += fmt::format("| {} | {} | {} | {} | {} | {:.2f} | {} | {} | {:.3f} | {:.2f} | {:.0f} | {} | {} | {} |\n",
                     r["method"].get<std::string>(), r["sampler"].get<std::string>(), r["steps"].get<int>(),
                     cfg_text(r["cfg"]), r["nfe"].get<int64_t>(), r["fvd"].get<double>(), fmt_ci(r),
                     r["n_fake"].get<int64_t>(), r["latency_s_per_clip"].get<double>(), r["clips_per_s"].get<double>(),
                     r["peak_rss_mib"].get<double>(),
                     r.contains("train_clip_steps") ? std::to_string(r["train_clip_steps"].get<int64_t>()) : "-",
                     r.contains("train_student_passes")
                         ? fmt::format("{} / {}", r["train_student_passes"].get<int64_t>(),
                                       r["train_teacher_passes"].get<int64_t>())
                         : "-",
                     r.contains("train_s") ? fmt::format("{:.1f}", r["train_s"].get<double>()) : "-");
  return s;
}

const ResultPrinter& result_printer(const std::string& format) {
  std::vector<std::string> names;
  for (const auto* p : printers()) {
    if (p->format() == format) return *p;
    names.push_back(p->format());
  }
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw UsageError(fmt::format("--format: expected {}, got '{}'", known, format));
}

std::vector<std::string> parse_formats(const std::vector<std::string>& formats) {
  for (const auto& f : formats) result_printer(f);
  return formats;
}

std::vector<fs::path> write_result(const CompareResult& r, const std::vector<std::string>& formats, const fs::path& dir,
                                   const std::string& stem, const fs::path& root) {
  return write_any(r, formats, dir, stem, root);
}

std::vector<fs::path> write_result(const AblateResult& r, const std::vector<std::string>& formats, const fs::path& dir,
                                   const std::string& stem, const fs::path& root) {
  return write_any(r, formats, dir, stem, root);
}

namespace {
// A run's metrics.jsonl summed: step seconds, and the UNet clip passes its distillation steps
// logged (torn lines skipped; passes unknown unless every step logged them).
struct LoggedCost {
  double seconds = 0;
  int64_t student_passes = 0, teacher_passes = 0;
  bool has_passes = false;
};
LoggedCost logged_cost(const fs::path& metrics) {
  std::ifstream in(metrics);
  std::string line;
  LoggedCost c;
  int64_t lines = 0, with_passes = 0;
  while (std::getline(in, line)) {
    try {
      const auto j = json::parse(line);
      ++lines;
      if (j.contains("it_per_s") && j["it_per_s"].is_number() && j["it_per_s"].get<double>() > 0)
        c.seconds += 1.0 / j["it_per_s"].get<double>();
      if (j.contains("student_passes") && j.contains("teacher_passes")) {
        c.student_passes += j["student_passes"].get<int64_t>();
        c.teacher_passes += j["teacher_passes"].get<int64_t>();
        ++with_passes;
      }
    } catch (const json::exception&) {  // a torn last line
    }
  }
  c.has_passes = lines > 0 && with_passes == lines;
  return c;
}

// A run folder's own cost: its logged step seconds and UNet passes (this rank's, times the world
// size), and its summary's steps x global batch (run.json; OSV's stages write stage.json).
TrainCost run_cost(const fs::path& run) {
  TrainCost c;
  const auto logged = logged_cost(run / "metrics.jsonl");
  c.seconds = logged.seconds;
  try {
    const auto j = json::parse(read_file(fs::exists(run / "run.json") ? run / "run.json" : run / "stage.json"));
    if (j.contains("steps")) {
      c.steps = j["steps"].get<int64_t>();
      const json dp = j.value("data_parallel", json::object());
      c.clip_steps = c.steps * dp.value("global_batch", int64_t{1});
      c.has_steps = true;
      if (logged.has_passes) {
        const int64_t world = dp.value("world_size", int64_t{1});
        c.student_passes = logged.student_passes * world;
        c.teacher_passes = logged.teacher_passes * world;
        c.has_passes = true;
      }
    }
  } catch (const std::exception&) {  // no run.json (a run still training), or not JSON: seconds only
  }
  return c;
}
}  // namespace

std::optional<TrainCost> train_cost(const json& row, bool with_previous) {
  const auto w = row.value("weights", "");
  const auto colon = w.find(':');
  if (colon == std::string::npos) return std::nullopt;
  const fs::path run = fs::path(w.substr(colon + 1)).parent_path();
  if (!fs::exists(run / "metrics.jsonl")) return std::nullopt;
  TrainCost total = run_cost(run);
  // A run that continues another (OSV stage 2: its key names stage 1's run id) adds that run's.
  if (with_previous) try {
    const auto key = json::parse(read_file(run / "key.json"));
    if (key.contains("stage1") && key["stage1"].is_string()) {
      const auto id = "-" + key["stage1"].get<std::string>();
      for (const auto& e : fs::directory_iterator(run.parent_path())) {
        const auto n = e.path().filename().string();
        if (n.find("stage1") != std::string::npos && n.size() > id.size() &&
            n.compare(n.size() - id.size(), id.size(), id) == 0 && fs::exists(e.path() / "metrics.jsonl")) {
          const auto c = run_cost(e.path());
          total.seconds += c.seconds;
          total.steps += c.steps;
          total.clip_steps += c.clip_steps;
          total.has_steps = total.has_steps && c.has_steps;
          total.student_passes += c.student_passes;
          total.teacher_passes += c.teacher_passes;
          total.has_passes = total.has_passes && c.has_passes;
        }
      }
    }
  } catch (const std::exception&) {  // no key.json, or not JSON: the run's own cost
  }
  return total;
}

void add_train_cost(json& row, bool with_previous) {
  if (row.contains("train_s")) return;
  if (const auto t = train_cost(row, with_previous)) {
    row["train_s"] = t->seconds;
    if (t->has_steps) {  // unknown (not 0) where a run's summary is missing
      row["train_steps"] = t->steps;
      row["train_clip_steps"] = t->clip_steps;
    }
    if (t->has_passes) {
      row["train_student_passes"] = t->student_passes;
      row["train_teacher_passes"] = t->teacher_passes;
    }
  }
}

ReportInputs report_inputs(const std::vector<std::pair<json, fs::path>>& docs, const fs::path& root) {
  ReportInputs in;
  for (const auto& [doc, dir] : docs) {
    // Samples: the first clips of every row (same first frames across rows), each row once.
    auto add_videos = [&, dir = dir](const json& r) {
      if (!r.contains("videos") || !r["videos"].is_string()) return;
      const auto key = regress_row_key(r);
      if (std::any_of(in.videos.begin(), in.videos.end(), [&](const auto& v) { return v.first == key; })) return;
      const fs::path vdir = r["videos"].get<std::string>();
      std::vector<std::string> v;
      for (int i = 0; i < 4; ++i) {
        const auto mp4 = (vdir.is_absolute() ? vdir : dir / vdir) / fmt::format("{:05d}.mp4", i);
        if (fs::exists(mp4)) v.push_back(read_file(mp4));
      }
      if (!v.empty()) in.videos.emplace_back(key, std::move(v));
    };
    const auto schema = doc.value("schema", "");
    if (schema == CompareResult::kSchema) {
      json d = doc;
      for (auto& r : d["rows"]) {
        add_videos(r);
        add_train_cost(r, true);
      }
      in.compares.push_back(std::move(d));
    } else if (schema == AblateResult::kSchema) {
      for (const auto& m : doc.value("measured", json::array())) add_videos(m.at("result"));
      in.ablations.push_back(doc);
    } else if (schema == ReconstructResult::kSchema) {
      // Its mp4s are the held-out clips 0, 1, ... through the VAE: the same first frames, in the same
      // order, as every row's samples, so they join the samples as one more column.
      json r = doc.at("row");
      if (!r.contains("videos") && !dir.empty() && fs::is_directory(dir / "videos")) r["videos"] = (dir / "videos").string();
      add_videos(r);
      in.reconstructions.push_back(doc);
    }
  }
  // Training curves of every run in the folder: methods' runs and the embedded models.
  if (!root.empty() && fs::is_directory(root)) {
    std::vector<fs::path> runs;
    for (const auto& e : fs::recursive_directory_iterator(root))
      if (e.path().filename() == "metrics.jsonl") runs.push_back(e.path());
    std::sort(runs.begin(), runs.end());
    for (const auto& m : runs) {
      auto pts = loss_curve(m);
      if (!pts.empty()) in.curves.emplace_back(fs::relative(m.parent_path(), root).string(), std::move(pts));
    }
  }
  return in;
}

}  // namespace osv
