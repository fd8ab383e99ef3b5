#include "tile_config.cuh"
std::unique_ptr<SweepRunner> make_c128x256_c1x2() { return std::make_unique<sweep::Runner<128, 256, 1, 2>>(); }
