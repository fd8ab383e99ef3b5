// The pieces of the reports (sim/report) and of the sweep machinery (sim/core): CSV quoting and
// exact numbers, table layout, SVG well-formedness, track lanes, the Perfetto trace of a real
// plan (no overlapping slices on a track, durations from the Timeline), the advice paragraph,
// scenario --set overrides and their errors, and the child pool's parallelism and stop.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <map>
#include <set>
#include <thread>

#include "child_pool.hpp"
#include "executor.hpp"
#include "gpu_activity.hpp"
#include "input_error.hpp"
#include "metrics.hpp"
#include "perfetto_trace.hpp"
#include "plan_builder.hpp"
#include "policy_advice.hpp"
#include "results_csv.hpp"
#include "scenario_settings.hpp"
#include "svg.hpp"
#include "svg_charts.hpp"
#include "test_support.hpp"
#include "text_table.hpp"

namespace comet {
namespace {

// ---- a minimal XML well-formedness check for the SVG fragments ----
// Every tag closes in order, attribute quotes balance, text has no raw '<' or '&' (escaped).
bool well_formed(const std::string& xml, std::string& why) {
  std::vector<std::string> open;
  for (std::size_t i = 0; i < xml.size();) {
    if (xml[i] == '&') {
      const auto semicolon = xml.find(';', i);
      if (semicolon == std::string::npos || semicolon - i > 6) return why = "raw & at " + std::to_string(i), false;
      i = semicolon + 1;
      continue;
    }
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    std::size_t end = i + 1;
    bool quoted = false;
    while (end < xml.size() && (quoted || xml[end] != '>')) quoted ^= xml[end++] == '"';
    if (end >= xml.size()) return why = "unterminated tag at " + std::to_string(i), false;
    const std::string tag = xml.substr(i + 1, end - i - 1);
    if (tag.empty() || tag[0] == ' ') return why = "bad tag at " + std::to_string(i), false;
    const std::string name = tag.substr(tag[0] == '/' ? 1 : 0, tag.find_first_of(" /", 1) - (tag[0] == '/' ? 1 : 0));
    if (tag[0] == '/') {
      if (open.empty() || open.back() != name) return why = "unexpected </" + name + ">", false;
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(name);
    }
    i = end + 1;
  }
  if (!open.empty()) return why = "unclosed <" + open.back() + ">", false;
  return true;
}

TEST(ReportCsv, QuotesFieldsAndWritesNumbersThatReadBackExactly) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  const double awkward = 0.1 + 0.2;
  nlohmann::ordered_json a{{"name", "nic3 -> leaf0, up"}, {"x", awkward}, {"n", 7}, {"nested", {{"leaf", 1.5}}},
                           {"rows", {1, 2, 3}}};
  nlohmann::ordered_json b{{"name", "b"}, {"x", 1e-300}, {"n", -2}, {"nested", {{"leaf", 0}}}, {"extra", true}};
  const std::string csv = results_csv({a, b});
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "name,x,n,nested.leaf,extra") << "arrays left out, objects flattened";
  const std::string first_row = csv.substr(csv.find('\n') + 1, csv.find('\n', csv.find('\n') + 1) - csv.find('\n') - 1);
  EXPECT_EQ(first_row.substr(0, first_row.find(",0.3")), "\"nic3 -> leaf0, up\"");
  const auto x_text = first_row.substr(first_row.find(",0.3") + 1, first_row.find(",7") - first_row.find(",0.3") - 1);
  EXPECT_EQ(std::stod(x_text), awkward) << x_text;
  EXPECT_NE(csv.find("b,1e-300,-2,0,true"), std::string::npos) << csv;
}

TEST(ReportTable, TextTableHasAUnitsRowAndAlignedColumns) {
  const Table table{{{"rank", "", true}, {"policy", "", false}, {"time", "ms", true}},
                    {{"1", "topology", "1.500"}, {"10", "contiguous", "12.250"}}};
  const std::string text = format_text_table(table);
  EXPECT_EQ(text, "rank policy       time\n"
                  "   #                ms\n"
                  "   1 topology    1.500\n"
                  "  10 contiguous 12.250\n");
  const std::string md = format_markdown_table(table);
  EXPECT_NE(md.find("| time (ms) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| ---: | --- | ---: |"), std::string::npos) << md;
  const std::string html = format_html_table({{{"a<b", "", false}}, {{"x & y"}}}, 0);
  EXPECT_NE(html.find("a&lt;b"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"best\"><td>x &amp; y</td>"), std::string::npos) << html;
}

TEST(ReportSvg, TicksCoverTheMaximumAndChartsAreWellFormed) {
  for (double max : {0.7, 1.0, 9.9, 213.4, 1e9}) {
    const std::vector<double> ticks = nice_ticks(max);
    EXPECT_GE(ticks.back(), max);
    EXPECT_LE(ticks.size(), 12u);
  }
  EXPECT_EQ(tick_label(2.5), "2.5");
  EXPECT_EQ(tick_label(1200), "1200");
  std::string why;
  const std::string bars = stacked_bar_chart(
      {"t <&> \"q\"", "ms", {"a / b", "c & d"}, {{"compute", "#000"}, {"exposed", "#111"}}, {{1, 2}, {3, 0}}});
  EXPECT_TRUE(well_formed(bars, why)) << why << "\n" << bars;
  EXPECT_NE(bars.find("c &amp; d"), std::string::npos);
  const double nan = std::nan("");
  const std::string lines =
      line_chart({"layer time", "tokens", "ms", {"1", "2", "4"}, {1, 2, 4}, false, {{"a=1", {1, nan, 3}}, {"a=2", {2, 3, 4}}}});
  EXPECT_TRUE(well_formed(lines, why)) << why << "\n" << lines;
  const std::string gantt = gantt_chart({"g", {{"compute", {{0, 1e-3, "expert_gemm", "op 1"}}, true}}, {{"expert_gemm", "#123"}}});
  EXPECT_TRUE(well_formed(gantt, why)) << why;
  const std::string heat = heat_map({"h", {"p1", "p2"}, {"leaf0 -> spine1"}, {{0.2}, {0.95}}});
  EXPECT_TRUE(well_formed(heat, why)) << why;
  EXPECT_NE(heat.find(">95%<"), std::string::npos);
  EXPECT_FALSE(well_formed("<svg><g></svg>", why)) << "the checker itself must catch errors";
}

TEST(ReportLanes, OverlappingIntervalsGoToSeparateLanesAndNoLaneOverlaps) {
  const std::vector<std::pair<double, double>> intervals{{0, 4}, {1, 2}, {2, 3}, {3, 5}, {4, 6}, {0.5, 1}};
  const std::vector<int> lanes = assign_lanes(intervals);
  ASSERT_EQ(lanes.size(), intervals.size());
  for (std::size_t a = 0; a < intervals.size(); ++a)
    for (std::size_t b = 0; b < a; ++b)
      if (lanes[a] == lanes[b]) {
        EXPECT_TRUE(intervals[a].second <= intervals[b].first || intervals[b].second <= intervals[a].first) << a << " " << b;
      }
  EXPECT_EQ(*std::max_element(lanes.begin(), lanes.end()), 1) << "two at once at most: as few lanes as that";
  EXPECT_EQ(lanes[0], 0);
}

// A 16-GPU tree (2 leaves, 4:1 uplinks) with Zipf routing, planned with pipelining.
struct SmallRun {
  Scenario scenario;
  Topology topology;
  PathCosts costs;
  CostModel model;
  Plan plan;
  Timeline timeline;
  Metrics metrics;
  static Scenario make_scenario() {
    const std::string text = "name: small\ntopology:\n  name: t16\n  kind: tree\n  " + testing::node_yaml(8) +
                             "  tree: {fan_out: [1, 2], oversubscription: [4]}\n"
                             "model: {preset: mixtral-8x7b, experts: 16}\nparallelism: {expert_parallel: 16}\n"
                             "workload: {tokens_per_gpu: 2048, routing: {kind: zipf, alpha: 1.0}}\n";
    return parse_scenario(load_yaml_text(text, "small.yaml"), ".");
  }
  SmallRun()
      : scenario(make_scenario()), topology(build_topology(scenario.topology)), costs(topology),
        model(CostModel::defaults_for("h100-sxm")),
        plan(build_plan({&scenario, &topology, &costs, &model, parse_policy(PolicyFamily::PLACEMENT, "contiguous"),
                         parse_policy(PolicyFamily::PARTITION, "fixed:3"), parse_policy(PolicyFamily::A2A, "hierarchical"), 1, 1})
                 .plan),
        timeline(make_executor("analytical")->run(plan, topology, model)),
        metrics(compute_metrics(plan, timeline, topology, costs)) {}
};

TEST(ReportTrace, EveryEventIsCompleteNoTrackOverlapsAndDurationsAreTheTimelines) {
  const SmallRun run;
  const auto trace = perfetto_trace({&run.plan, &run.timeline, &run.topology, run.metrics.critical_gpu, 16, {{"x", 1}}},
                                    {0, 4});
  const auto& events = trace.at("traceEvents");
  ASSERT_GT(events.size(), 100u);
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> tracks;
  std::set<int> pids;
  int link_events = 0;
  for (const auto& e : events) {
    for (const char* key : {"ph", "ts", "dur", "pid", "tid"}) ASSERT_TRUE(e.contains(key)) << key << " in " << e.dump();
    pids.insert(e["pid"].get<int>());
    if (e["ph"] != "X") continue;
    const TimelineOp& op = run.timeline.ops.at(e["args"]["op"].get<int>());
    EXPECT_DOUBLE_EQ(e["dur"].get<double>(), (op.end_s - op.start_s) * 1e6);
    EXPECT_DOUBLE_EQ(e["ts"].get<double>(), op.start_s * 1e6);
    tracks[{e["pid"].get<int>(), e["tid"].get<int>()}].emplace_back(e["ts"].get<double>(),
                                                                    e["ts"].get<double>() + e["dur"].get<double>());
    link_events += e["cat"] == "link";
  }
  EXPECT_EQ(pids.size(), 17u) << "16 GPUs and the links process";
  EXPECT_GT(link_events, 0);
  for (auto& [track, slices] : tracks) {
    std::sort(slices.begin(), slices.end());
    for (std::size_t i = 1; i < slices.size(); ++i)
      EXPECT_LE(slices[i - 1].second, slices[i].first + 1e-6) << "track " << track.first << "/" << track.second;
  }
  // A GPU's compute events are exactly its compute ops.
  std::size_t compute_ops = 0, compute_events = 0;
  for (const TimelineOp& op : run.timeline.ops) compute_ops += op.gpu == 3;
  for (const auto& e : events) compute_events += e["ph"] == "X" && e["pid"] == 4 && e["cat"] == "compute";
  EXPECT_EQ(compute_events, compute_ops);
}

TEST(ReportTrace, LimitedTracesShowTheCriticalGpuAndTheFirstToFinish) {
  const SmallRun run;
  const std::vector<int> gpus = trace_gpus(run.timeline, run.metrics.critical_gpu, 4);
  ASSERT_EQ(gpus.size(), 4u);
  EXPECT_TRUE(std::is_sorted(gpus.begin(), gpus.end()));
  EXPECT_NE(std::find(gpus.begin(), gpus.end(), run.metrics.critical_gpu), gpus.end());
  const std::vector<double> ends = last_compute_end_by_gpu(run.timeline);
  const int first = static_cast<int>(std::min_element(ends.begin(), ends.end()) - ends.begin());
  bool has_earliest = false;
  for (int g : gpus) has_earliest = has_earliest || ends[g] == ends[first];
  EXPECT_TRUE(has_earliest);
  EXPECT_EQ(trace_gpus(run.timeline, run.metrics.critical_gpu, 0).size(), 16u);
}

Result fake_result(const std::string& placement, const std::string& partition, const std::string& a2a, double layer_ms,
                   double compute_ms, double cross_gb, double baseline_ms) {
  return Result{{"placement", placement},
                {"partition", partition},
                {"a2a", a2a},
                {"layers", 1},
                {"steps", 1},
                {"layer_time_s", layer_ms / 1e3},
                {"compute_s", compute_ms / 1e3},
                {"exposed_comm_s", (layer_ms - compute_ms) / 1e3},
                {"overlap_ratio", 0.5},
                {"bytes_by_tier", {{"intra_node", 0.0}, {"leaf", 0.0}, {"spine", cross_gb * 1e9}, {"core", 0.0}}},
                {"max_link", "nic0 -> leaf0"},
                {"max_link_mean_utilization", 0.9},
                {"speedup_vs_baseline", baseline_ms / layer_ms}};
}

TEST(ReportAdvice, NamesTheBestPolicyTheGainAndTheFamilyThatMatters) {
  const Result baseline = fake_result("contiguous", "none", "direct", 200, 30, 100, 200);
  const std::vector<Result> ranked{fake_result("topology", "fixed:4", "direct", 120, 32, 80, 200),
                                   fake_result("contiguous", "fixed:4", "direct", 121, 30, 100, 200),
                                   fake_result("topology", "none", "direct", 190, 32, 80, 200), baseline};
  const std::vector<std::string> advice = policy_advice(ranked, baseline);
  std::string text;
  for (const std::string& s : advice) text += s + " ";
  EXPECT_NE(text.find("Pick topology / fixed:4 / direct: 120.000 ms per layer, 1.67x"), std::string::npos) << text;
  EXPECT_NE(text.find("exposed communication falls from 170.000 to 88.000 ms"), std::string::npos) << text;
  EXPECT_NE(text.find("20% fewer bytes across nodes"), std::string::npos) << text;
  EXPECT_NE(text.find("The partition policy matters most"), std::string::npos) << text;
  EXPECT_NE(text.find("contiguous / fixed:4 / direct changes fewer policies"), std::string::npos) << text;
  EXPECT_NE(text.find("90% utilised"), std::string::npos) << text;
  const std::vector<std::string> keep = policy_advice({baseline, ranked[2]}, baseline);
  EXPECT_NE(keep.front().find("Keep the baseline"), std::string::npos) << keep.front();
}

// The advice names the largest cause on the best policy's critical path and what attacks it:
// imbalance -> a placement that spreads hot experts; exposed communication -> chunking.
TEST(ReportAdvice, NamesTheCauseOnTheCriticalPath) {
  const Result baseline = fake_result("contiguous", "none", "direct", 200, 30, 100, 200);
  auto text_of = [&](const Result& best) {
    std::string text;
    for (const std::string& s : policy_advice({best, baseline}, baseline)) text += s + " ";
    return text;
  };
  Result imbalanced = fake_result("contiguous", "fixed:4", "direct", 150, 40, 100, 200);
  imbalanced["max_link_mean_utilization"] = 0.3;
  imbalanced["exposed_comm_s"] = 0.030;
  imbalanced["imbalance_s"] = 0.080;  // 80 of 150 ms: waiting for a more loaded GPU
  const std::string imbalance = text_of(imbalanced);
  EXPECT_NE(imbalance.find("Load imbalance sets much of the layer time: 80.000 of 150.000 ms"), std::string::npos) << imbalance;
  EXPECT_NE(imbalance.find("replicate:R"), std::string::npos) << imbalance;
  Result exposed = fake_result("topology", "none", "direct", 150, 40, 80, 200);
  exposed["max_link_mean_utilization"] = 0.3;
  exposed["imbalance_s"] = 0.0;
  const std::string communication = text_of(exposed);  // 110 of 150 ms exposed
  EXPECT_NE(communication.find("Communication is still mostly exposed"), std::string::npos) << communication;
  EXPECT_NE(communication.find("chunking (fixed:K, dynamic)"), std::string::npos) << communication;
  EXPECT_EQ(communication.find("Load imbalance"), std::string::npos) << communication;
}

// ---- scenario --set overrides ----

std::string scenario_file(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

const std::string SCENARIO = "name: s\ntopology: dgx-h100\nmodel:\n  preset: mixtral-8x7b\nparallelism:\n"
                             "  expert_parallel: 8\nworkload:\n  tokens_per_gpu: 4096\n";

TEST(ScenarioSettings, SetsExistingAndNewKeysAndInlinesShippedTopologies) {
  const std::string file = scenario_file("settings.yaml", SCENARIO);
  const Scenario s = load_scenario_with_settings(
      file, {{"workload.tokens_per_gpu", "1024"}, {"workload.routing", "{kind: zipf, alpha: 0.5}"},
             {"model.experts", "16"}, {"topology.node.nic_bandwidth", "200Gbps"}});
  EXPECT_EQ(s.workload.tokens_per_gpu, 1024);
  EXPECT_EQ(s.workload.routing.kind, RoutingKind::ZIPF);
  EXPECT_DOUBLE_EQ(s.workload.routing.alpha, 0.5);
  EXPECT_EQ(s.model.experts, 16);
  EXPECT_DOUBLE_EQ(s.topology.node.nic_Bps, 25e9);
  EXPECT_EQ(s.topology.node.gpus, 8) << "the rest of dgx-h100 is kept";
  const Scenario tree = load_scenario_with_settings("", {{"topology", "tree-1024"}, {"parallelism.expert_parallel", "64"}});
  EXPECT_EQ(tree.topology.name, "tree-1024");
  const Scenario listed = load_scenario_with_settings(
      "", {{"topology", "tree-1024"}, {"topology.tree.oversubscription.0", "2"}});
  EXPECT_EQ(listed.topology.tree.oversubscription.at(0), 2.0);
}

TEST(ScenarioSettings, ErrorsNameTheKeyTheValueAndWhatWasExpected) {
  const std::string file = scenario_file("settings_bad.yaml", SCENARIO);
  auto message = [&](std::vector<ScenarioSetting> settings) {
    try {
      load_scenario_with_settings(file, settings);
    } catch (const InputError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  const std::string unknown = message({{"workload.tokenz", "5"}});
  EXPECT_NE(unknown.find("'workload.tokenz': unknown key"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("--set workload.tokenz=5"), std::string::npos) << unknown;
  const std::string bad = message({{"workload.tokens_per_gpu", "lots"}});
  EXPECT_NE(bad.find("'workload.tokens_per_gpu': value 'lots': expected a whole number"), std::string::npos) << bad;
  EXPECT_EQ(bad.find(":8:"), std::string::npos) << "a new value has no line in the file: " << bad;
  const std::string below_scalar = message({{"model.preset.x", "1"}});
  EXPECT_NE(below_scalar.find("'model.preset' holds a single value"), std::string::npos) << below_scalar;
  const std::string empty_part = message({{"workload..seed", "1"}});
  EXPECT_NE(empty_part.find("empty part"), std::string::npos) << empty_part;
  const std::string scalar = message({{"topology.node.gpus.1", "3"}});
  EXPECT_NE(scalar.find("'topology.node.gpus' holds a single value"), std::string::npos) << scalar;
  const std::string index = message({{"topology", "tree-1024"}, {"topology.tree.oversubscription.5", "1"}});
  EXPECT_NE(index.find("'topology.tree.oversubscription' is a list of 1; expected an index 0..0"), std::string::npos)
      << index;
  const std::string yaml = message({{"workload.tokens_per_gpu", "[1, 2"}});
  EXPECT_NE(yaml.find("not a YAML value"), std::string::npos) << yaml;
}

// ---- the child pool ----

TEST(ChildPool, RunsItemsInParallelChildrenAndReturnsEveryResult) {
  std::map<int, std::string> results;
  std::set<int> pids;
  int most_running = 0, running = 0;
  ChildPoolTasks tasks;
  tasks.num_items = 6;
  tasks.jobs = 3;
  tasks.work = [](int i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return std::to_string(i * i) + ":" + std::to_string(::getpid());
  };
  tasks.on_started = [&](int) { most_running = std::max(most_running, ++running); };
  tasks.on_finished = [&](int i, const ChildOutcome& outcome) {
    --running;
    EXPECT_FALSE(outcome.failed);
    results[i] = outcome.output.substr(0, outcome.output.find(':'));
    pids.insert(std::stoi(outcome.output.substr(outcome.output.find(':') + 1)));
    return true;
  };
  EXPECT_TRUE(run_child_pool(tasks));
  ASSERT_EQ(results.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(results[i], std::to_string(i * i));
  EXPECT_EQ(pids.size(), 6u) << "one process per item";
  EXPECT_EQ(pids.count(::getpid()), 0u);
  EXPECT_EQ(most_running, 3) << "3 jobs: three children at once, never more";
}

TEST(ChildPool, AStopKillsRunningChildrenAndTheirChildrenAndStartsNoMore) {
  int finished = 0, started = 0;
  ChildPoolTasks tasks;
  tasks.num_items = 10;
  tasks.jobs = 2;
  tasks.work = [](int i) {
    if (i == 0) return std::string("quick");
    // A grandchild, as the SimGrid engines have: it must die with its parent's process group.
    run_in_child_process([] {
      std::this_thread::sleep_for(std::chrono::seconds(30));
      return std::string();
    });
    return std::string("slow");
  };
  tasks.on_started = [&](int) { ++started; };
  tasks.on_finished = [&](int, const ChildOutcome&) { return ++finished, true; };
  tasks.should_stop = [&] { return finished >= 1; };
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(run_child_pool(tasks));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(finished, 1);
  EXPECT_LE(started, 3);
  EXPECT_LT(seconds, 5.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // No process of ours is left: every child was reaped, and grandchildren are gone.
  int children = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string pid, name, state, parent;
    if (stat >> pid >> name >> state >> parent && parent == std::to_string(::getpid())) ++children;
  }
  EXPECT_EQ(children, 0);
}

TEST(ChildPool, AFailingItemReportsItsMessage) {
  ChildPoolTasks tasks;
  tasks.num_items = 1;
  tasks.work = [](int) -> std::string { throw std::runtime_error("bad point"); };
  ChildOutcome seen;
  tasks.on_finished = [&](int, const ChildOutcome& outcome) {
    seen = outcome;
    return true;
  };
  EXPECT_TRUE(run_child_pool(tasks));
  EXPECT_TRUE(seen.failed);
  EXPECT_EQ(seen.output, "bad point");
}

}  // namespace
}  // namespace comet
