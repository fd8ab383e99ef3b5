#include "tile_config.cuh"
std::unique_ptr<SweepRunner> make_c256x128_c1x2() { return std::make_unique<sweep::Runner<256, 128, 1, 2>>(); }
