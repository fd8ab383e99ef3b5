#include "tile_config.cuh"
std::unique_ptr<SweepRunner> make_c256x128_c2x1() { return std::make_unique<sweep::Runner<256, 128, 2, 1>>(); }
