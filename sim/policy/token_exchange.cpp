#include "token_exchange.hpp"

#include <numeric>

namespace comet {

TokenExchange::TokenExchange(int num_gpus, int expert_parallel, int max_slots)
    : num_gpus_(num_gpus), expert_parallel_(expert_parallel), max_slots_(max_slots),
      pairs_(static_cast<std::size_t>(num_gpus) * expert_parallel, 0),
      slots_(static_cast<std::size_t>(num_gpus) * max_slots, 0) {}

std::int64_t TokenExchange::total() const { return std::accumulate(pairs_.begin(), pairs_.end(), std::int64_t{0}); }

std::vector<std::int64_t> TokenExchange::received_per_gpu() const {
  std::vector<std::int64_t> received(num_gpus_, 0);
  for (int gpu = 0; gpu < num_gpus_; ++gpu)
    for (int s = 0; s < max_slots_; ++s) received[gpu] += slot(gpu, s);
  return received;
}

TokenExchange exchange_tokens(const RoutingMatrix& routing, const ExpertPlacement& placement) {
  const int ep = placement.expert_parallel();
  TokenExchange exchange(routing.num_gpus(), ep, placement.max_slots_per_gpu());
  // Slot index of each (expert, replica), computed once.
  std::vector<std::vector<int>> slot_of(placement.num_experts());
  for (int e = 0; e < placement.num_experts(); ++e)
    for (int position : placement.replicas(e)) slot_of[e].push_back(placement.slot_of(e, position));
  for (int src = 0; src < routing.num_gpus(); ++src) {
    const int base = exchange.group_base(src);
    const std::int32_t* row = routing.row(src);
    for (int e = 0; e < routing.num_experts(); ++e) {
      if (row[e] == 0) continue;
      const std::vector<int>& where = placement.replicas(e);
      const int count = static_cast<int>(where.size());
      if (count == 1) {  // most experts: one replica takes every copy (replica_share's divisions skipped)
        exchange.pair(src, where[0]) += row[e];
        exchange.slot(base + where[0], slot_of[e][0]) += row[e];
        continue;
      }
      for (int r = 0; r < count; ++r) {
        const std::int64_t copies = ExpertPlacement::replica_share(row[e], r, count);
        exchange.pair(src, where[r]) += copies;
        exchange.slot(base + where[r], slot_of[e][r]) += copies;
      }
    }
  }
  return exchange;
}

}  // namespace comet
