#include "phase_transfers.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "input_error.hpp"

namespace sg4 = simgrid::s4u;

namespace comet {

void LinkAsk::add(const A2aFootprint& footprint, double alone_s, double sign) {
  for (const LinkLoad& load : footprint.loads) {
    double& Bps = Bps_[static_cast<std::size_t>(load.link)];
    Bps = std::max(0.0, Bps + sign * load.demand_bytes / alone_s);
  }
}

PhaseTransfers::PhaseTransfers(std::vector<sg4::Host*> link_host, std::vector<double> floor_Bps, const LinkAsk& ask,
                               bool every_link)
    : link_host_(std::move(link_host)), floor_Bps_(std::move(floor_Bps)), ask_(ask), every_link_(every_link) {}

bool PhaseTransfers::every_link_from_environment() {
  const char* value = std::getenv("COMET_PHASE_LINKS");
  if (!value || std::string(value) == "binding") return false;
  if (std::string(value) == "all") return true;
  throw InputError({"<environment>", 0, 0}, "COMET_PHASE_LINKS", value, "binding or all");
}

std::vector<std::int32_t> PhaseTransfers::links_that_may_bind(const A2aFootprint& footprint) const {
  std::vector<std::int32_t> links;
  for (const LinkLoad& load : footprint.loads) {
    const auto link = static_cast<std::size_t>(load.link);
    // The margin keeps a task's own most loaded link despite rounding.
    if (every_link_ || ask_.Bps(load.link) >= floor_Bps_[link] * (1.0 - 1e-9)) links.push_back(load.link);
  }
  return links;
}

void PhaseTransfers::launch(Task task, std::vector<std::int32_t> links, double share) {
  std::vector<sg4::Host*> hosts;
  std::vector<double> amounts;
  auto next = links.begin();
  for (const LinkLoad& load : task.footprint->loads) {  // both sorted by link
    if (next == links.end()) break;
    if (load.link != *next) continue;
    hosts.push_back(link_host_[static_cast<std::size_t>(load.link)]);
    amounts.push_back(load.demand_bytes * share);
    ++next;
  }
  task.links = std::move(links);
  task.exec = sg4::Exec::init()->set_hosts(hosts)->set_flops_amounts(amounts);
  keep_alive_.push_back(task.exec);
  const sg4::Activity* key = task.exec.get();
  sg4::ExecPtr exec = task.exec;
  running_.emplace(key, std::move(task));
  exec->start();
}

void PhaseTransfers::start(std::int32_t id, const A2aFootprint& footprint) {
  // Running tasks that now lack a link that may bind (sets only grow while tasks start), with
  // the links each needs now.
  struct Stale {
    std::int32_t id;
    const sg4::Activity* key;
    std::vector<std::int32_t> need;
  };
  std::vector<Stale> stale;
  for (const auto& [key, task] : running_) {
    std::vector<std::int32_t> need = links_that_may_bind(*task.footprint);
    if (!std::includes(task.links.begin(), task.links.end(), need.begin(), need.end()))
      stale.push_back({task.id, key, std::move(need)});
  }
  // A deterministic order of SimGrid calls.
  std::sort(stale.begin(), stale.end(), [](const Stale& a, const Stale& b) { return a.id < b.id; });
  for (Stale& restart : stale) {
    auto found = running_.find(restart.key);
    Task task = std::move(found->second);
    running_.erase(found);  // before cancelling: its completion callback must not find it
    const double share = task.exec->get_remaining_ratio();
    task.exec->suspend();  // a cancelled action keeps its max-min share until SimGrid reaps it; a suspended one has none
    task.exec->cancel();
    ++restarts_;
    launch(std::move(task), std::move(restart.need), share);
  }
  launch(Task{id, &footprint, {}, nullptr}, links_that_may_bind(footprint), 1.0);
}

std::optional<std::int32_t> PhaseTransfers::finished(const sg4::Activity& activity) {
  const auto found = running_.find(&activity);
  if (found == running_.end()) return std::nullopt;
  const std::int32_t id = found->second.id;
  running_.erase(found);
  return id;
}

}  // namespace comet
