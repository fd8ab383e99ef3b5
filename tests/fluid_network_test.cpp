// FluidNetwork against closed forms: max-min shares, capacity changes, the completion window.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "fluid_network.hpp"

namespace comet {
namespace {

// A discrete-event loop for the network's timers: (time, insertion order) -> callback.
class EventLoop {
 public:
  double now() const { return now_; }
  void at(double time_s, std::function<void()> callback) { events_.emplace(std::pair{time_s, next_++}, std::move(callback)); }
  void run() {
    while (!events_.empty()) {
      auto first = events_.begin();
      now_ = first->first.first;
      std::function<void()> callback = std::move(first->second);
      events_.erase(first);
      callback();
    }
  }

 private:
  std::map<std::pair<double, long>, std::function<void()>> events_;
  double now_ = 0.0;
  long next_ = 0;
};

FluidNetwork network_on(EventLoop& loop, std::vector<double> capacity_Bps, double window = 0.0) {
  return FluidNetwork(std::move(capacity_Bps), window, [&loop] { return loop.now(); },
                      [&loop](double time_s, std::function<void()> callback) { loop.at(time_s, std::move(callback)); });
}

TEST(FluidNetwork, FlowsOnOneLinkShareItEquallyUntilTheSmallerEnds) {
  EventLoop loop;
  FluidNetwork network = network_on(loop, {100.0});
  const std::vector<int> route{0};
  double small_end = -1.0, large_end = -1.0;
  network.start(route, 100.0, [&] { small_end = loop.now(); });
  network.start(route, 300.0, [&] { large_end = loop.now(); });
  loop.run();
  EXPECT_DOUBLE_EQ(small_end, 2.0);  // 50 B/s each until 100 B are through
  EXPECT_DOUBLE_EQ(large_end, 4.0);  // then 200 B left alone at 100 B/s
}

// The textbook case: A crosses links 0 and 1, B only 0, C only 1; capacities 10 and 30. Link 0
// binds A and B at 5 each; C takes what A leaves of link 1: 25.
TEST(FluidNetwork, RatesAreMaxMinFair) {
  EventLoop loop;
  FluidNetwork network = network_on(loop, {10.0, 30.0});
  const std::vector<int> a{0, 1}, b{0}, c{1};
  double a_end = 0.0, b_end = 0.0, c_end = 0.0;
  network.start(a, 50.0, [&] { a_end = loop.now(); });
  network.start(b, 50.0, [&] { b_end = loop.now(); });
  network.start(c, 250.0, [&] { c_end = loop.now(); });
  loop.run();
  EXPECT_DOUBLE_EQ(a_end, 10.0);
  EXPECT_DOUBLE_EQ(b_end, 10.0);
  EXPECT_DOUBLE_EQ(c_end, 10.0);
}

TEST(FluidNetwork, ACapacityChangeReSharesTheRunningFlows) {
  EventLoop loop;
  FluidNetwork network = network_on(loop, {100.0});
  const std::vector<int> route{0};
  double end = 0.0;
  network.start(route, 300.0, [&] { end = loop.now(); });
  loop.at(1.0, [&] { network.set_capacity(0, 50.0); });  // 100 B moved, 200 B left at 50 B/s
  loop.run();
  EXPECT_DOUBLE_EQ(end, 5.0);
  EXPECT_EQ(network.capacity(0), 50.0);
}

TEST(FluidNetwork, FlowsStartedLaterJoinTheSharing) {
  EventLoop loop;
  FluidNetwork network = network_on(loop, {100.0});
  const std::vector<int> route{0};
  double first_end = 0.0, second_end = 0.0;
  network.start(route, 200.0, [&] { first_end = loop.now(); });
  loop.at(1.0, [&] { network.start(route, 50.0, [&] { second_end = loop.now(); }); });
  loop.run();
  EXPECT_DOUBLE_EQ(second_end, 2.0);  // 50 B at 50 B/s from t = 1
  EXPECT_DOUBLE_EQ(first_end, 2.5);   // 100 B by t = 1, 50 B by t = 2, 50 B alone
}

TEST(FluidNetwork, EmptyFlowsAndRoutesEndAtOnce) {
  EventLoop loop;
  FluidNetwork network = network_on(loop, {100.0});
  const std::vector<int> link{0}, none{};
  int ended = 0;
  network.start(link, 0.0, [&] { ++ended; });
  network.start(none, 500.0, [&] { ++ended; });
  loop.run();
  EXPECT_EQ(ended, 2);
  EXPECT_EQ(loop.now(), 0.0);
}

// Flows that would end within `window` of their age after one that ends now end with it (one
// solve); never more than that early. Window 0: each end is its own event.
TEST(FluidNetwork, TheCompletionWindowEndsNearlyDueFlowsTogetherAndNoEarlier) {
  std::vector<std::uint64_t> solves;
  for (double window : {0.0, 1e-3, 1e-2}) {
    EventLoop loop;
    FluidNetwork network = network_on(loop, {1.0, 1.0, 1.0}, window);
    // Three independent flows on their own links: alone they end at 1000, 1005 and 1020 s.
    const std::vector<int> r0{0}, r1{1}, r2{2};
    std::vector<double> end(3, 0.0);
    network.start(r0, 1000.0, [&] { end[0] = loop.now(); });
    network.start(r1, 1005.0, [&] { end[1] = loop.now(); });
    network.start(r2, 1020.0, [&] { end[2] = loop.now(); });
    loop.run();
    SCOPED_TRACE(window);
    EXPECT_DOUBLE_EQ(end[0], 1000.0);
    EXPECT_DOUBLE_EQ(end[1], window >= 5.0 / 1000.0 ? 1000.0 : 1005.0);  // 5 s left at age 1000
    EXPECT_DOUBLE_EQ(end[2], window >= 20.0 / 1000.0 ? 1000.0 : window >= 15.0 / 1005.0 ? 1005.0 : 1020.0);
    for (int f = 0; f < 3; ++f) EXPECT_GE(end[f], (1000.0 + (f == 1 ? 5.0 : f == 2 ? 20.0 : 0.0)) * (1.0 - window) - 1e-9);
    solves.push_back(network.solves());
  }
  // One solve at the start and one per completion event: three events at window 0, two at 1e-2.
  EXPECT_EQ(solves[0], 4u);
  EXPECT_EQ(solves[1], 4u);
  EXPECT_EQ(solves[2], 3u);
}

TEST(FluidNetwork, RejectsWhatCannotBeShared) {
  EventLoop loop;
  EXPECT_THROW(network_on(loop, {100.0, 0.0}), std::invalid_argument);
  EXPECT_THROW(network_on(loop, {100.0}, 1.0), std::invalid_argument);
  FluidNetwork network = network_on(loop, {100.0});
  const std::vector<int> unknown{3};
  EXPECT_THROW(network.start(unknown, 1.0, [] {}), std::out_of_range);
  EXPECT_THROW(network.set_capacity(0, -1.0), std::invalid_argument);
}

}  // namespace
}  // namespace comet
