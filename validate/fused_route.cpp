#include "fused_route.hpp"

#include <stdexcept>
#include <string>

namespace comet {

kernels::DispatchRoute fused_route(const TokenLayout& layout, int chunk, int rank) {
  const int sources = layout.num_ranks();
  const ChunkLayout& mine = layout.chunk(chunk, rank);
  const int slots = static_cast<int>(mine.slot_offsets.size()) - 1;
  kernels::DispatchRoute route{sources, slots, rank, std::vector<std::int64_t>(static_cast<std::size_t>(slots) * sources, 0)};
  // Expert-major rows are by slot, then source: each row's source is the piece of the receive
  // order that holds it.
  for (int slot = 0; slot < slots; ++slot)
    for (std::int64_t row = mine.slot_offsets[slot]; row < mine.slot_offsets[slot + 1]; ++row) {
      const std::int64_t received = mine.expert_rows[static_cast<std::size_t>(row)];
      int source = 0;
      while (source + 1 < sources && mine.recv_offsets[source + 1] <= received) ++source;
      ++route.rows[static_cast<std::size_t>(slot) * sources + source];
    }
  // What each source sends this rank must be what this rank receives from it, slot by slot.
  for (int source = 0; source < sources; ++source) {
    std::int64_t from_source = 0;
    for (int slot = 0; slot < slots; ++slot) from_source += route.rows_of(slot, source);
    if (from_source != layout.chunk(chunk, source).send_count[rank] || from_source != mine.recv_count[source])
      throw std::logic_error("fused_route: rank " + std::to_string(rank) + " receives " + std::to_string(from_source) +
                             " rows of chunk " + std::to_string(chunk) + " from rank " + std::to_string(source) +
                             ", which sends it " + std::to_string(layout.chunk(chunk, source).send_count[rank]));
  }
  return route;
}

std::vector<std::int64_t> fused_source_offsets(const TokenLayout& layout, int chunk, int rank) {
  std::vector<std::int64_t> offsets;
  for (int source = 0; source < layout.num_ranks(); ++source) offsets.push_back(layout.chunk(chunk, source).send_offsets[rank]);
  return offsets;
}

}  // namespace comet
