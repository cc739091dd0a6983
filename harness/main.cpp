// osvbench: trains, samples and evaluates fast video diffusion methods.
#include "harness/cli.h"

int main(int argc, char** argv) { return osv::run_cli(argc, argv); }
