#include "fluid_network.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace comet {

FluidNetwork::FluidNetwork(std::vector<double> capacity_Bps, double completion_window, Clock now, SetTimer at)
    : capacity_Bps_(std::move(capacity_Bps)), window_(completion_window), now_(std::move(now)), at_(std::move(at)),
      residual_(capacity_Bps_.size(), 0.0), unfrozen_(capacity_Bps_.size(), 0), on_link_start_(capacity_Bps_.size(), 0),
      on_link_end_(capacity_Bps_.size(), 0) {
  if (!(window_ >= 0.0 && window_ < 1.0)) throw std::invalid_argument("FluidNetwork: completion window outside [0, 1)");
  for (double Bps : capacity_Bps_)
    if (!(Bps > 0.0)) throw std::invalid_argument("FluidNetwork: a link capacity is not positive");
}

void FluidNetwork::start(std::span<const int> route, double bytes, std::function<void()> done) {
  advance();
  if (route.size() > MAX_ROUTE) throw std::length_error("FluidNetwork: a route longer than MAX_ROUTE links");
  Flow flow;
  for (int link : route) {
    if (link < 0 || static_cast<std::size_t>(link) >= capacity_Bps_.size())
      throw std::out_of_range("FluidNetwork: a route names an unknown link");
    flow.link[static_cast<std::size_t>(flow.hops++)] = link;
  }
  flow.remaining = std::max(0.0, bytes);
  flow.start_s = now_();
  flows_.push_back(flow);
  done_.push_back(std::move(done));
  changed();
}

void FluidNetwork::set_capacity(int link, double Bps) {
  if (!(Bps > 0.0)) throw std::invalid_argument("FluidNetwork: a link capacity is not positive");
  advance();
  capacity_Bps_.at(static_cast<std::size_t>(link)) = Bps;
  changed();
}

void FluidNetwork::advance() {
  const double now = now_();
  const double elapsed = now - updated_s_;
  if (elapsed > 0.0)
    for (Flow& flow : flows_) flow.remaining = std::max(0.0, flow.remaining - flow.rate * elapsed);
  updated_s_ = std::max(updated_s_, now);
}

void FluidNetwork::changed() {
  if (solve_pending_) return;
  solve_pending_ = true;
  at_(now_(), [this] {
    solve_pending_ = false;
    advance();
    solve();
  });
}

void FluidNetwork::solve() {
  ++solves_;
  // The flows on each link, as one flat array (touched links only).
  touched_.clear();
  for (const Flow& flow : flows_)
    for (int link : flow.route())
      if (unfrozen_[link]++ == 0) touched_.push_back(link);
  int offset = 0;
  for (int link : touched_) {
    on_link_start_[link] = on_link_end_[link] = offset;
    offset += unfrozen_[link];
    residual_[link] = capacity_Bps_[link];
  }
  on_link_.resize(static_cast<std::size_t>(offset));
  for (std::size_t f = 0; f < flows_.size(); ++f)
    for (int link : flows_[f].route()) on_link_[on_link_end_[link]++] = static_cast<int>(f);

  // Progressive filling: the link with the smallest fair share (residual over its flows not yet
  // frozen) fixes its flows' rate; they stop rising everywhere, which only raises the other
  // links' shares. So a popped entry below its link's share now is stale: it goes back with the
  // current share, and the first entry popped at its current share is the smallest of all.
  heap_.clear();
  for (int link : touched_) heap_.emplace_back(residual_[link] / unfrozen_[link], link);
  std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
  frozen_.assign(flows_.size(), 0);
  for (Flow& flow : flows_) flow.rate = flow.hops == 0 ? std::numeric_limits<double>::infinity() : 0.0;
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    const auto [key, link] = heap_.back();
    heap_.pop_back();
    if (unfrozen_[link] == 0) continue;
    const double share = residual_[link] / unfrozen_[link];
    if (share > key) {
      heap_.emplace_back(share, link);
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
      continue;
    }
    for (int slot = on_link_start_[link]; slot < on_link_end_[link]; ++slot) {
      const int f = on_link_[slot];
      if (frozen_[f]) continue;
      frozen_[f] = 1;
      flows_[f].rate = share;
      for (int other : flows_[f].route()) {
        residual_[other] = std::max(0.0, residual_[other] - share);
        --unfrozen_[other];
      }
    }
  }
  for (int link : touched_) unfrozen_[link] = 0;

  // The next completion.
  if (flows_.empty()) return;
  const double now = now_();
  double next = std::numeric_limits<double>::infinity();
  for (const Flow& flow : flows_) next = std::min(next, now + (flow.remaining > 0.0 ? flow.remaining / flow.rate : 0.0));
  // Positive capacities give every flow a positive rate; never wait forever on a rounding accident.
  if (!std::isfinite(next)) throw std::logic_error("FluidNetwork: no active flow has a rate");
  const std::uint64_t version = ++version_;
  at_(next, [this, version] { complete(version); });
}

void FluidNetwork::complete(std::uint64_t version) {
  if (version != version_) return;  // the rates changed since this was armed
  advance();
  const double now = now_();
  // Due: what ends within the window of its age, and always the earliest (rounding may leave it a
  // few bytes short).
  double earliest = std::numeric_limits<double>::infinity();
  for (const Flow& flow : flows_) earliest = std::min(earliest, flow.remaining > 0.0 ? flow.remaining / flow.rate : 0.0);
  std::vector<std::function<void()>> done;
  for (std::size_t f = 0; f < flows_.size();) {
    Flow& flow = flows_[f];
    const double left_s = flow.remaining > 0.0 ? flow.remaining / flow.rate : 0.0;
    if (left_s <= earliest || left_s <= window_ * (now - flow.start_s)) {
      done.push_back(std::move(done_[f]));
      flow = flows_.back();
      flows_.pop_back();
      done_[f] = std::move(done_.back());
      done_.pop_back();
    } else {
      ++f;
    }
  }
  changed();
  for (std::function<void()>& callback : done) callback();
}

}  // namespace comet
