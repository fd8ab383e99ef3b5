#include "policy_advice.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace comet {
namespace {

constexpr double TIE_SHARE = 0.02;  // results this close to the best count as ties

double ms(const Result& r, const char* key) { return r.at(key).get<double>() / layer_count(r) * 1e3; }
double layer_ms(const Result& r) { return r.at("layer_time_s").get<double>() * 1e3; }

std::string headline(const Result& best, const Result& baseline) {
  if (is_baseline(best))
    return fmt::format("Keep the baseline contiguous / none / direct ({:.3f} ms per layer): none of the combinations "
                       "compared beats it.",
                       layer_ms(best));
  return fmt::format("Pick {}: {:.3f} ms per layer, {:.2f}x the baseline contiguous / none / direct ({:.3f} ms).",
                     policy_label(best), layer_ms(best), best.at("speedup_vs_baseline").get<double>(),
                     layer_ms(baseline));
}

// Imbalance per layer (ms): 0 for results written before it was reported.
double imbalance_ms(const Result& r) { return r.contains("imbalance_s") ? ms(r, "imbalance_s") : 0.0; }

std::string where_the_gain_comes_from(const Result& best, const Result& baseline) {
  const double exposed_gain = ms(baseline, "exposed_comm_s") - ms(best, "exposed_comm_s");
  const double compute_gain = ms(baseline, "compute_s") - ms(best, "compute_s");
  const double imbalance_gain = imbalance_ms(baseline) - imbalance_ms(best);
  if (exposed_gain <= 0 && compute_gain <= 0 && imbalance_gain <= 0) return {};
  if (imbalance_gain > exposed_gain && imbalance_gain > compute_gain)
    return fmt::format("Most of the gain is less waiting for the most loaded GPU: imbalance on the critical path falls "
                       "from {:.3f} to {:.3f} ms, exposed communication changes by {:+.3f} ms.",
                       imbalance_ms(baseline), imbalance_ms(best), -exposed_gain);
  if (exposed_gain >= compute_gain)
    return fmt::format("Most of the gain is communication taken off the critical path: exposed communication falls "
                       "from {:.3f} to {:.3f} ms (overlap ratio {:.2f} -> {:.2f}), while compute on the critical GPU "
                       "changes by {:+.3f} ms.",
                       ms(baseline, "exposed_comm_s"), ms(best, "exposed_comm_s"),
                       baseline.at("overlap_ratio").get<double>(), best.at("overlap_ratio").get<double>(),
                       -compute_gain);
  return fmt::format("Most of the gain is compute on the critical GPU ({:.3f} -> {:.3f} ms: a better balanced expert "
                     "load), while exposed communication changes by {:+.3f} ms.",
                     ms(baseline, "compute_s"), ms(best, "compute_s"), -exposed_gain);
}

std::string traffic(const Result& best, const Result& baseline) {
  const double base = cross_node_bytes(baseline), now = cross_node_bytes(best);
  if (base <= 0 || std::abs(now - base) < 0.05 * base) return {};
  return fmt::format("Its placement and all-to-all send {:.0f}% {} bytes across nodes ({:.2f} GB instead of "
                     "{:.2f} GB); the most loaded link runs at {:.0f}% instead of {:.0f}%.",
                     100 * std::abs(now - base) / base, now < base ? "fewer" : "more", now / 1e9, base / 1e9,
                     100 * best.at("max_link_mean_utilization").get<double>(),
                     100 * baseline.at("max_link_mean_utilization").get<double>());
}

// For each family with several options: the spread of the mean layer time over its options.
std::string family_sensitivity(const std::vector<Result>& ranked) {
  struct Spread {
    std::string family, best_option, worst_option;
    double share = 0.0;
  };
  std::vector<Spread> spreads;
  for (const char* family : {"placement", "partition", "a2a"}) {
    std::map<std::string, std::pair<double, int>> sums;  // option -> (sum, count)
    for (const Result& r : ranked) {
      auto& [sum, count] = sums[r.at(family).get<std::string>()];
      sum += layer_ms(r);
      ++count;
    }
    if (sums.size() < 2) continue;
    Spread spread{family, "", "", 0.0};
    double low = 1e300, high = -1e300;
    for (const auto& [option, sum_count] : sums) {
      const double mean = sum_count.first / sum_count.second;
      if (mean < low) {
        low = mean;
        spread.best_option = option;
      }
      if (mean > high) {
        high = mean;
        spread.worst_option = option;
      }
    }
    spread.share = high > 0 ? (high - low) / high : 0.0;
    spreads.push_back(spread);
  }
  if (spreads.empty()) return {};
  std::stable_sort(spreads.begin(), spreads.end(), [](const Spread& a, const Spread& b) { return a.share > b.share; });
  const Spread& top = spreads.front();
  std::string text = fmt::format("The {} policy matters most here: averaged over the other choices, {} is {:.0f}% "
                                 "faster than {}",
                                 top.family == "a2a" ? "all-to-all" : top.family, top.best_option, 100 * top.share,
                                 top.worst_option);
  if (spreads.size() > 1) {
    const Spread& least = spreads.back();
    text += fmt::format("; the {} choice matters least ({:.0f}%)", least.family == "a2a" ? "all-to-all" : least.family,
                        100 * least.share);
  }
  return text + ".";
}

// Departures from the baseline: the simpler of two near-equal results needs fewer changes.
int departures(const Result& r) {
  return (r.at("placement") != "contiguous") + (r.at("partition") != "none") + (r.at("a2a") != "direct");
}

std::string near_ties(const std::vector<Result>& ranked) {
  const double best = layer_ms(ranked.front());
  std::vector<const Result*> ties;
  for (std::size_t i = 1; i < ranked.size(); ++i)
    if (layer_ms(ranked[i]) <= best * (1 + TIE_SHARE)) ties.push_back(&ranked[i]);
  if (ties.empty()) return {};
  std::string names;
  for (std::size_t i = 0; i < ties.size() && i < 3; ++i) {
    names += i ? ", " : "";
    names += policy_label(*ties[i]);
  }
  if (ties.size() > 3) names += fmt::format(" and {} more", ties.size() - 3);
  std::string text = fmt::format("{} within {:.0f}% of it ({}): differences this small are within the model's "
                                 "accuracy",
                                 ties.size() == 1 ? "One other combination is" : fmt::format("{} others are", ties.size()),
                                 100 * TIE_SHARE, names);
  const Result* simplest = &ranked.front();
  for (const Result* r : ties)
    if (departures(*r) < departures(*simplest)) simplest = r;
  if (simplest != &ranked.front())
    text += fmt::format(", and {} changes fewer policies from the baseline", policy_label(*simplest));
  return text + ".";
}

std::string remaining_bottleneck(const Result& best) {
  const double utilization = best.at("max_link_mean_utilization").get<double>();
  if (utilization >= 0.8)
    return fmt::format("Even so, link {} is {:.0f}% utilised over the whole layer: the network bounds this layer, "
                       "so fewer cross-node bytes or a less oversubscribed fabric would help more than another "
                       "overlap policy.",
                       best.at("max_link").get<std::string>(), 100 * utilization);
  const double exposed = ms(best, "exposed_comm_s"), imbalance = imbalance_ms(best), layer = layer_ms(best);
  if (layer <= 0) return {};
  // The largest cause on the critical path, and the policies that attack it.
  if (imbalance > 0.25 * layer && imbalance >= exposed)
    return fmt::format("Load imbalance sets much of the layer time: {:.3f} of {:.3f} ms on the critical path wait for a "
                       "more loaded GPU's computation; a placement that spreads the hot experts (replicate:R, "
                       "bottleneck) attacks it, overlap policies do not.",
                       imbalance, layer);
  if (exposed > 0.5 * layer)
    return fmt::format("Communication is still mostly exposed ({:.3f} of {:.3f} ms): the all-to-all, not compute, "
                       "sets the layer time; {}.",
                       exposed, layer,
                       best.at("partition") == "none" ? "chunking (fixed:K, dynamic) would overlap it"
                                                      : "fewer bytes across the slowest tier (a placement that keeps tokens in their node) would shorten it");
  if (layer - exposed - imbalance > 0.75 * layer)
    return fmt::format("Computation sets the layer time ({:.3f} of {:.3f} ms on the critical GPU): communication "
                       "policies have little left to gain.",
                       layer - exposed - imbalance, layer);
  return {};
}

}  // namespace

std::vector<std::string> policy_advice(const std::vector<Result>& ranked, const Result& baseline) {
  if (ranked.empty()) return {};
  const Result& best = ranked.front();
  std::vector<std::string> sentences{headline(best, baseline)};
  for (std::string sentence : {is_baseline(best) ? std::string() : where_the_gain_comes_from(best, baseline),
                               is_baseline(best) ? std::string() : traffic(best, baseline), family_sensitivity(ranked),
                               near_ties(ranked), remaining_bottleneck(best)})
    if (!sentence.empty()) sentences.push_back(std::move(sentence));
  return sentences;
}

}  // namespace comet
