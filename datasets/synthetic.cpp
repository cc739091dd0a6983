#include "datasets/synthetic.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "common/atomic_file.h"
#include "datasets/video_io.h"

namespace osv {
namespace {

constexpr double kPi = 3.14159265358979323846;

struct Object {
  std::string shape;  // circle | square | triangle | ring
  double r, g, b;
  double size;        // half-extent, fraction of the frame
  double x0, y0;      // start centre, fraction of the frame
  double vx, vy;      // per frame
  double angle0, spin;
  double scale_rate;  // size multiplier per frame
};

// Signed distance (negative inside) of a shape of half-size s, rotated by a, at p relative to its centre.
torch::Tensor sdf(const std::string& shape, const torch::Tensor& px, const torch::Tensor& py, double s, double a) {
  const double c = std::cos(a), sn = std::sin(a);
  auto x = px * c + py * sn, y = -px * sn + py * c;
  if (shape == "circle") return torch::sqrt(x * x + y * y) - s;
  if (shape == "ring") return torch::abs(torch::sqrt(x * x + y * y) - 0.75 * s) - 0.25 * s;
  if (shape == "square") return torch::max(torch::abs(x), torch::abs(y)) - s;
  // equilateral triangle
  const double k = std::sqrt(3.0);
  auto ax = torch::abs(x);
  return torch::max(ax * (k / 2) + y * 0.5, -y) - s * 0.5;
}

}  // namespace

SyntheticClip synthetic_clip(const SyntheticOptions& o, int64_t index) {
  std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(index) * 0xBF58476D1CE4E5B9ULL + 1);
  std::uniform_real_distribution<double> U(0.0, 1.0);
  auto uni = [&](double a, double b) { return a + (b - a) * U(rng); };
  const int64_t T = o.frames, H = o.height, W = o.width;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  // Pixel centres in [-0.5, 0.5] of the frame's height units.
  auto ys = (torch::arange(H, f32) + 0.5) / static_cast<double>(H) - 0.5;
  auto xs = ((torch::arange(W, f32) + 0.5) / static_cast<double>(W) - 0.5) * (static_cast<double>(W) / H);
  auto grid_y = ys.view({H, 1}).expand({H, W}), grid_x = xs.view({1, W}).expand({H, W});

  // Background: two colours mixed by a few random sinusoids (texture), panned by the camera.
  nlohmann::json bg;
  const double c1[3] = {uni(0.1, 0.6), uni(0.1, 0.6), uni(0.1, 0.6)};
  const double c2[3] = {uni(0.3, 0.9), uni(0.3, 0.9), uni(0.3, 0.9)};
  std::vector<std::array<double, 3>> waves;  // (kx, ky, phase)
  for (int i = 0; i < 3; ++i) waves.push_back({uni(-12, 12), uni(-12, 12), uni(0, 2 * kPi)});
  const double pan_vx = uni(-0.02, 0.02), pan_vy = uni(-0.01, 0.01);
  bg["colours"] = {{c1[0], c1[1], c1[2]}, {c2[0], c2[1], c2[2]}};
  bg["pan_per_frame"] = {pan_vx, pan_vy};
  const double light0 = uni(0.8, 1.1), light_rate = uni(-0.02, 0.02);

  const int64_t n_obj = o.min_objects + static_cast<int64_t>(U(rng) * static_cast<double>(o.max_objects - o.min_objects + 1));
  const char* shapes[] = {"circle", "square", "triangle", "ring"};
  std::vector<Object> objs;
  nlohmann::json jobj = nlohmann::json::array();
  for (int64_t i = 0; i < std::min<int64_t>(n_obj, o.max_objects); ++i) {
    Object ob;
    ob.shape = shapes[static_cast<int>(U(rng) * 4) % 4];
    ob.r = uni(0, 1);
    ob.g = uni(0, 1);
    ob.b = uni(0, 1);
    ob.size = uni(0.06, 0.16);
    ob.x0 = uni(-0.35, 0.35);
    ob.y0 = uni(-0.3, 0.3);
    const double speed = uni(0.01, 0.04), dir = uni(0, 2 * kPi);
    ob.vx = speed * std::cos(dir);
    ob.vy = speed * std::sin(dir);
    ob.angle0 = uni(0, 2 * kPi);
    ob.spin = uni(-0.25, 0.25);
    ob.scale_rate = uni(0.97, 1.03);
    objs.push_back(ob);
    jobj.push_back({{"shape", ob.shape}, {"colour", {ob.r, ob.g, ob.b}}, {"size", ob.size},
                    {"start", {ob.x0, ob.y0}}, {"velocity", {ob.vx, ob.vy}}, {"spin", ob.spin},
                    {"scale_rate", ob.scale_rate}});
  }

  auto video = torch::empty({T, 3, H, W}, f32);
  const double aa = 1.0 / static_cast<double>(H);  // anti-aliasing width: one pixel
  for (int64_t t = 0; t < T; ++t) {
    const double ft = static_cast<double>(t);
    auto px = grid_x + pan_vx * ft, py = grid_y + pan_vy * ft;
    auto tex = torch::zeros({H, W}, f32);
    for (const auto& w : waves) tex = tex + torch::sin(px * w[0] + py * w[1] + w[2]);
    auto mix = torch::sigmoid(tex * 1.5).unsqueeze(0);  // [1, H, W]
    auto c1t = torch::tensor({c1[0], c1[1], c1[2]}, f32).view({3, 1, 1});
    auto c2t = torch::tensor({c2[0], c2[1], c2[2]}, f32).view({3, 1, 1});
    auto frame = c1t * (1 - mix) + c2t * mix;  // [3, H, W]
    // Objects in order: later ones occlude earlier ones. They bounce inside the frame.
    for (const auto& ob : objs) {
      auto bounce = [](double p, double lim) {
        const double period = 4 * lim;
        double q = std::fmod(p + lim, period);
        if (q < 0) q += period;
        return q < 2 * lim ? q - lim : 3 * lim - q;
      };
      const double cx = bounce(ob.x0 + ob.vx * ft, 0.45 * W / H), cy = bounce(ob.y0 + ob.vy * ft, 0.42);
      const double s = ob.size * std::pow(ob.scale_rate, ft);
      auto d = sdf(ob.shape, grid_x - cx, grid_y - cy, s, ob.angle0 + ob.spin * ft);
      auto alpha = torch::clamp(0.5 - d / aa, 0.0, 1.0).unsqueeze(0);
      auto col = torch::tensor({ob.r, ob.g, ob.b}, f32).view({3, 1, 1});
      frame = frame * (1 - alpha) + col * alpha;
    }
    frame = frame * (light0 + light_rate * ft);
    video[t] = frame;
  }
  SyntheticClip clip;
  clip.video = (video.clamp(0, 1) * 255.0).round().to(torch::kUInt8);
  clip.labels = {{"index", index}, {"seed", o.seed}, {"frames", T}, {"height", H}, {"width", W}, {"fps", o.fps},
                 {"background", bg}, {"lighting", {{"start", light0}, {"rate_per_frame", light_rate}}},
                 {"objects", jobj}};
  return clip;
}

int64_t write_synthetic_set(const std::filesystem::path& dir, const SyntheticOptions& o, const SyntheticSplit& split) {
  int64_t written = 0;
  auto one = [&](const std::filesystem::path& sub, int64_t i, int64_t index) {
    const auto stem = dir / sub / fmt::format("{:05d}", i);
    const auto labels = stem.string() + ".json";
    // The labels are written last: their presence marks a complete entry.
    if (std::filesystem::exists(labels) && std::filesystem::exists(stem.string() + ".mp4")) return;
    auto clip = synthetic_clip(o, index);
    write_video(stem.string() + ".mp4", clip.video, o.fps);
    atomic_write(labels, clip.labels.dump(2) + "\n");
    ++written;
  };
  for (int64_t i = 0; i < split.num_test; ++i) one("test", i, split.test_index(i));
  for (int64_t i = 0; i < split.num_train; ++i) one("train", i, split.train_index(i));
  return written;
}

}  // namespace osv
