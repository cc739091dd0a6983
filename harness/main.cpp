// osvbench: trains, samples and evaluates fast video diffusion methods.
#include <string>
#include <vector>

#include "harness/cli.h"
#include "models/numerics.h"

int main(int argc, char** argv) {
  // Before any tensor operation: the kernels' instruction set is chosen once, at first use.
  osv::init_numerics(osv::reproducible_requested(std::vector<std::string>(argv + 1, argv + argc)));
  return osv::run_cli(argc, argv);
}
