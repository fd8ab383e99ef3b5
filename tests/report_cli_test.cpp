// `comet compare` and `comet sweep` end to end: their results agree with `comet simulate
// --json` run alone; traces are trace-event JSON whose durations are the Timeline's; the same
// inputs give the same bytes; a sweep stopped by SIGINT keeps complete files for its finished
// points; bad input exits 2; the HTML reports render in headless Chromium without console
// errors and are not blank.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef COMET_HAVE_PNG
#include <png.h>
#endif

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Result {
  int exit_code = -1;
  std::string out, err;
};

class ReportCliTest : public ::testing::Test {
 public:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("comet_report_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// `comet ARGUMENTS`, started by `launcher` when given (mpirun ...).
  Result comet(const std::string& arguments, const std::string& launcher = "") {
    const fs::path out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
    const std::string command =
        launcher + std::string(COMET_BINARY) + " " + arguments + " > " + out.string() + " 2> " + err.string();
    const int status = std::system(command.c_str());
    Result result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = read_file(out);
    result.err = read_file(err);
    return result;
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

// 64 GPUs on a 2:1 oversubscribed leaf-spine, Zipf routing: placement and all-to-all matter.
const std::string SCENARIO = R"(name: reports-64
topology:
  name: ft64
  kind: fat-tree
  node: {gpus: 8, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 8, nic_bandwidth: 400Gbps, pcie_bandwidth: 64GB/s}
  fat_tree: {down: [32, 2], up: [1, 32], oversubscription: [2]}
model: {preset: mixtral-8x7b, experts: 64}
parallelism: {expert_parallel: 64}
workload: {tokens_per_gpu: 2048, routing: {kind: zipf, alpha: 0.8}}
policies: {placement: [contiguous, topology], partition: [none, "fixed:2"], a2a: [direct, hierarchical]}
)";

std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields{""};
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      fields.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

std::vector<std::map<std::string, std::string>> read_csv(const fs::path& path) {
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = csv_fields(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const std::vector<std::string> fields = csv_fields(line);
    EXPECT_EQ(fields.size(), header.size()) << line;
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < header.size() && i < fields.size(); ++i) row[header[i]] = fields[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

// Every scalar of `expected` (dotted names for nested objects) equals the CSV cell.
void expect_csv_row_matches(const std::map<std::string, std::string>& row, const Json& expected, const std::string& prefix = "") {
  for (const auto& [key, value] : expected.items()) {
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) {
      expect_csv_row_matches(row, value, name);
      continue;
    }
    if (value.is_array()) continue;
    ASSERT_TRUE(row.count(name)) << "CSV lacks column " << name;
    if (value.is_number()) {
      EXPECT_EQ(std::stod(row.at(name)), value.get<double>()) << name;
    } else if (value.is_string()) {
      EXPECT_EQ(row.at(name), value.get<std::string>()) << name;
    }
  }
}

std::string simulate_args(const Json& row) {
  return "--placement " + row["placement"].get<std::string>() + " --partition " + row["partition"].get<std::string>() +
         " --a2a " + row["a2a"].get<std::string>();
}

void expect_compare_agrees_with_simulate(ReportCliTest& test, const std::string& scenario, const fs::path& out, const std::string& engine,
                                         std::size_t expected_rows) {
  const Json results = Json::parse(read_file(out / "results.json"));
  const Json& rows = results["results"];
  ASSERT_EQ(rows.size(), expected_rows);
  const auto csv = read_csv(out / "results.csv");
  ASSERT_EQ(csv.size(), rows.size());
  double previous = 0.0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Json& row = rows[i];
    EXPECT_EQ(row["rank"], i + 1);
    EXPECT_GE(row["layer_time_s"].get<double>(), previous) << "ranked by layer time";
    previous = row["layer_time_s"].get<double>();
    const Result alone = test.comet("simulate --json --engine " + engine + " " + simulate_args(row) + " " + scenario);
    ASSERT_EQ(alone.exit_code, 0) << alone.err;
    const Json simulated = Json::parse(alone.out);
    for (const auto& [key, value] : simulated.items()) EXPECT_EQ(row[key], value) << key << " of " << simulate_args(row);
    EXPECT_EQ(row.size(), simulated.size() + 1) << "the simulate keys plus rank";
    expect_csv_row_matches(csv[i], simulated);
    EXPECT_EQ(csv[i].at("rank"), std::to_string(i + 1));
    if (row["placement"] == "contiguous" && row["partition"] == "none" && row["a2a"] == "direct") {
      EXPECT_EQ(results["baseline"], simulated);
    }
  }
}

TEST_F(ReportCliTest, CompareResultsAgreeWithSimulateRunAlone) {
  const std::string scenario = write("s.yaml", SCENARIO);
  const Result compare = comet("compare --engine analytical -o " + (dir_ / "out").string() + " " + scenario);
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  EXPECT_EQ(compare.out.rfind("# comet compare", 0), 0u) << compare.out;
  EXPECT_NE(compare.out.find("\n   #"), std::string::npos) << "units row\n" << compare.out;
  EXPECT_NE(compare.out.find("Pick "), std::string::npos) << compare.out;
  // The scenario lists 2 x 2 x 2 policies.
  expect_compare_agrees_with_simulate(*this, scenario, dir_ / "out", "analytical", 8);
  for (const char* file : {"report.md", "report.html", "trace-contiguous_none_direct.json", "trace-topology_fixed-2_hierarchical.json"})
    EXPECT_TRUE(fs::exists(dir_ / "out" / file)) << file;
  // The best policy's critical path, op by op, as its JSON lists it.
  const Json results = Json::parse(read_file(dir_ / "out" / "results.json"));
  const Json& path = results["results"][0]["critical_path"];
  ASSERT_FALSE(path["ops"].empty());
  EXPECT_NEAR(path["compute_s"].get<double>() + path["all_to_all_s"].get<double>() + path["imbalance_s"].get<double>(),
              results["results"][0]["makespan_s"].get<double>(), 1e-9);
  const std::string html = read_file(dir_ / "out" / "report.html");
  EXPECT_NE(html.find("<h2>Critical path of "), std::string::npos);
  EXPECT_NE(html.find("<td>" + path["ops"][0]["kind"].get<std::string>() + "</td>"), std::string::npos);
}

// With one expert per GPU (64 experts, EP 64) contiguous and strided put every expert in the same
// place: compare simulates each partition / all-to-all pair once for both and relabels the result;
// every row must still be what simulating that combination alone gives, traces included.
TEST_F(ReportCliTest, CompareOfPlacementsThatCoincideAgreesWithSimulate) {
  const std::string scenario = write("s.yaml", SCENARIO);
  const Result compare = comet("compare --engine analytical --placements contiguous,strided,topology --partitions none,fixed:2 "
                               "--a2a direct -o " + (dir_ / "out").string() + " " + scenario);
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  expect_compare_agrees_with_simulate(*this, scenario, dir_ / "out", "analytical", 6);
  for (const char* partition : {"none", "fixed-2"}) {
    const std::string contiguous = read_file(dir_ / "out" / ("trace-contiguous_" + std::string(partition) + "_direct.json"));
    const std::string strided = read_file(dir_ / "out" / ("trace-strided_" + std::string(partition) + "_direct.json"));
    ASSERT_FALSE(strided.empty()) << partition;
    EXPECT_NE(strided.find("\"placement\":\"strided\""), std::string::npos) << "the trace names its own placement";
    EXPECT_EQ(Json::parse(strided)["traceEvents"].size(), Json::parse(contiguous)["traceEvents"].size()) << partition;
  }
}

#ifdef COMET_HAVE_SIMGRID
TEST_F(ReportCliTest, CompareOnThePhaseEngineAgreesWithSimulate) {
  const std::string scenario = write("s.yaml", SCENARIO);
  const Result compare = comet("compare --engine phase --placements topology --partitions fixed:2,none --a2a direct -o " +
                               (dir_ / "out").string() + " " + scenario);
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  expect_compare_agrees_with_simulate(*this, scenario, dir_ / "out", "phase", 2);
}
#endif

TEST_F(ReportCliTest, TracesAreTraceEventJsonWithTheTimelinesDurations) {
  const std::string scenario = write("s.yaml", SCENARIO);
  const fs::path out = dir_ / "out";
  const Result compare = comet("compare --engine analytical --placements topology --partitions fixed:2 --a2a hierarchical "
                               "--trace-gpus 0 -o " + out.string() + " " + scenario);
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  const Json trace = Json::parse(read_file(out / "trace-topology_fixed-2_hierarchical.json"));
  const Result alone = comet("simulate --engine analytical --placement topology --partition fixed:2 --a2a hierarchical "
                             "--timeline " + (dir_ / "timeline.json").string() + " " + scenario);
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  const Json timeline = Json::parse(read_file(dir_ / "timeline.json"));
  const Json& ops = timeline["ops"];
  std::map<int, int> events_per_op;  // GPU tracks only
  std::set<int> gpu_pids;
  int link_events = 0;
  ASSERT_TRUE(trace["traceEvents"].is_array());
  for (const Json& e : trace["traceEvents"]) {
    for (const char* key : {"ph", "ts", "dur", "pid", "tid"}) ASSERT_TRUE(e.contains(key)) << key << ": " << e.dump();
    if (e["ph"] != "X") {
      EXPECT_EQ(e["ph"], "M") << e.dump();
      continue;
    }
    const Json& op = ops.at(e["args"]["op"].get<std::size_t>());
    EXPECT_DOUBLE_EQ(e["dur"].get<double>(), (op["end_s"].get<double>() - op["start_s"].get<double>()) * 1e6) << e.dump();
    EXPECT_DOUBLE_EQ(e["ts"].get<double>(), op["start_s"].get<double>() * 1e6);
    if (e["cat"] == "link") {
      ++link_events;
      EXPECT_EQ(op["kind"], "all_to_all");
      continue;
    }
    const int gpu = e["pid"].get<int>() - 1;
    gpu_pids.insert(gpu);
    if (op["kind"] != "all_to_all") {
      EXPECT_EQ(op["gpu"], gpu) << "a compute op on its own GPU's process";
    }
    ++events_per_op[op["op"].get<int>()];
  }
  EXPECT_EQ(gpu_pids.size(), 64u) << "--trace-gpus 0: every GPU";
  EXPECT_GT(link_events, 0);
  for (const Json& op : ops) {
    // Every compute op once (on its GPU); every all-to-all on each of the 64 GPUs of its group.
    const int expected = op["kind"] == "all_to_all" ? 64 : 1;
    EXPECT_EQ(events_per_op[op["op"].get<int>()], expected) << op.dump();
  }
  // The default keeps traces small: 8 GPUs.
  const Json small = Json::parse(read_file(out / "trace-topology_fixed-2_hierarchical.json"));
  const Result defaults = comet("compare --engine analytical --placements topology --partitions fixed:2 --a2a hierarchical "
                                "-o " + (dir_ / "small").string() + " " + scenario);
  ASSERT_EQ(defaults.exit_code, 0);
  const Json limited = Json::parse(read_file(dir_ / "small" / "trace-topology_fixed-2_hierarchical.json"));
  EXPECT_EQ(limited["otherData"]["gpus_shown"].size(), 8u);
  EXPECT_LT(read_file(dir_ / "small" / "trace-topology_fixed-2_hierarchical.json").size(),
            read_file(out / "trace-topology_fixed-2_hierarchical.json").size() / 4);
}

TEST_F(ReportCliTest, SameInputsGiveIdenticalFiles) {
  const std::string scenario = write("s.yaml", SCENARIO);
  // Combinations one at a time or side by side in child processes: the same files.
  ASSERT_EQ(comet("compare --engine analytical --jobs 1 -o " + (dir_ / "a").string() + " " + scenario).exit_code, 0);
  ASSERT_EQ(comet("compare --engine analytical --jobs 3 -o " + (dir_ / "b").string() + " " + scenario).exit_code, 0);
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "a")) {
    EXPECT_EQ(read_file(entry.path()), read_file(dir_ / "b" / entry.path().filename())) << entry.path().filename();
    ++files;
  }
  EXPECT_EQ(files, 4u + 8u) << "results.json/csv, report.md/html, 8 traces";
  const std::string sweep = "sweep --engine analytical --set workload.tokens_per_gpu=512,1024,2048 --set workload.seed=1,2 " + scenario;
  ASSERT_EQ(comet(sweep + " --jobs 1 -o " + (dir_ / "s1").string()).exit_code, 0);
  ASSERT_EQ(comet(sweep + " --jobs 3 -o " + (dir_ / "s3").string()).exit_code, 0);
  EXPECT_EQ(read_file(dir_ / "s1" / "results.json"), read_file(dir_ / "s3" / "results.json"));
  EXPECT_EQ(read_file(dir_ / "s1" / "results.csv"), read_file(dir_ / "s3" / "results.csv"));
}

// `mpirun -np 3 comet sweep|compare`: the points split over three ranks, rank 0 writing the files
// a local run writes; a point failing on another rank ends the job with the local message and code.
TEST_F(ReportCliTest, SweepAndCompareUnderMpirunWriteWhatALocalRunWrites) {
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_SKIP() << "no mpirun";
  const std::string mpirun = "mpirun --allow-run-as-root --oversubscribe -np 3 ";
  const std::string scenario = write("s.yaml", SCENARIO);
  const std::string sweep = "sweep --engine analytical --set workload.tokens_per_gpu=512,1024,2048 --set workload.seed=1,2 " + scenario;
  const Result local = comet(sweep + " --jobs 2 -o " + (dir_ / "local").string());
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const Result ranks = comet(sweep + " --jobs 1 -o " + (dir_ / "mpi").string(), mpirun);
  if (ranks.exit_code == 2 && ranks.err.find("a comet built with MPI") != std::string::npos)
    GTEST_SKIP() << "comet built without MPI";
  ASSERT_EQ(ranks.exit_code, 0) << ranks.err;
  for (const char* file : {"results.json", "results.csv"})
    EXPECT_EQ(read_file(dir_ / "local" / file), read_file(dir_ / "mpi" / file)) << file;
  EXPECT_NE(ranks.out.find("# comet sweep"), std::string::npos) << "rank 0 prints the table once";
  EXPECT_EQ(ranks.out.find("# comet sweep"), ranks.out.rfind("# comet sweep")) << ranks.out;
  // compare too: every file (results, reports, traces made on other ranks) as a local run's.
  ASSERT_EQ(comet("compare --engine analytical --partitions none,fixed:2 -o " + (dir_ / "c_local").string() + " " + scenario)
                .exit_code, 0);
  const Result compare = comet("compare --engine analytical --partitions none,fixed:2 --jobs 1 -o " +
                                   (dir_ / "c_mpi").string() + " " + scenario, mpirun);
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "c_local")) {
    EXPECT_EQ(read_file(entry.path()), read_file(dir_ / "c_mpi" / entry.path().filename())) << entry.path().filename();
    ++files;
  }
  EXPECT_GE(files, 4u + 2u) << "results.json/csv, report.md/html and traces";
  // Point 1 (on rank 1) cannot place replicate:2 with expert parallelism 1.
  const Result failing = comet("sweep --engine analytical --placement replicate:2 --set parallelism.expert_parallel=8,1 " +
                                   std::string(COMET_SOURCE_DIR) + "/scenarios/dgx-h100.yaml",
                               mpirun);
  EXPECT_EQ(failing.exit_code, 2) << failing.err;
  EXPECT_NE(failing.err.find("point 1 (parallelism.expert_parallel=1)"), std::string::npos) << failing.err;
  EXPECT_EQ(failing.err.find("MPI_ABORT"), std::string::npos) << "the ranks end together, no abort\n" << failing.err;
  // Errors before the points run, on every rank (a missing file) or on rank 0 alone (its -o):
  // the ranks agree on them and end normally with the error's code.
  const Result missing = comet("compare --engine analytical " + (dir_ / "missing.yaml").string(), mpirun);
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_NE(missing.err.find("no such file"), std::string::npos) << missing.err;
  EXPECT_EQ(missing.err.find("MPI_ABORT"), std::string::npos) << missing.err;
  std::ofstream(dir_ / "a-file") << "x";
  const Result root_only = comet("compare --engine analytical --partitions none,fixed:2 -o " +
                                     (dir_ / "a-file" / "out").string() + " " + scenario, mpirun);
  EXPECT_EQ(root_only.exit_code, 2) << root_only.err;
  EXPECT_NE(root_only.err.find("cannot create it"), std::string::npos) << root_only.err;
  EXPECT_EQ(root_only.err.find("MPI_ABORT"), std::string::npos) << root_only.err;
}

TEST_F(ReportCliTest, SweepPointsAgreeWithSimulateOnTheEditedScenario) {
  const std::string scenario = write("s.yaml", SCENARIO);
  const fs::path out = dir_ / "sweep";
  const Result sweep = comet("sweep --engine analytical --partition fixed:2 --set workload.tokens_per_gpu=1024,4096 "
                             "--set topology.fat_tree.oversubscription=[1],[4] -o " + out.string() + " " + scenario);
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  EXPECT_NE(sweep.err.find("comet sweep: point 3 done (4/4)"), std::string::npos) << "plain progress lines\n" << sweep.err;
  const Json results = Json::parse(read_file(out / "results.json"));
  EXPECT_EQ(results["points_total"], 4);
  EXPECT_EQ(results["complete"], true);
  ASSERT_EQ(results["results"].size(), 4u);
  const Json& point = results["results"][1];  // the first key varies slowest
  EXPECT_EQ(point["set"]["workload.tokens_per_gpu"], "1024");
  EXPECT_EQ(point["set"]["topology.fat_tree.oversubscription"], "[4]");
  std::string edited = SCENARIO;
  edited.replace(edited.find("tokens_per_gpu: 2048"), 20, "tokens_per_gpu: 1024");
  edited.replace(edited.find("oversubscription: [2]"), 21, "oversubscription: [4]");
  const Result alone = comet("simulate --json --engine analytical --partition fixed:2 " + write("edited.yaml", edited));
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  const Json simulated = Json::parse(alone.out);
  for (const auto& [key, value] : simulated.items()) EXPECT_EQ(point[key], value) << key;
  const auto csv = read_csv(out / "results.csv");
  ASSERT_EQ(csv.size(), 4u);
  expect_csv_row_matches(csv[1], simulated);
  EXPECT_EQ(csv[1].at("set.topology.fat_tree.oversubscription"), "[4]");
  const std::string html = read_file(out / "report.html");
  EXPECT_GE(std::count(html.begin(), html.end(), '<') , 100);
  std::size_t charts = 0;
  for (std::size_t at = 0; (at = html.find("<svg", at)) != std::string::npos; ++at) ++charts;
  EXPECT_EQ(charts, 9u) << "one line chart per metric (result_fields.cpp: report_metrics)";
}

// Whether any process still runs with `needle` in its command line.
bool process_with_argument(const std::string& needle) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string cmdline = read_file(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos && cmdline.find("comet") != std::string::npos) return true;
  }
  return false;
}

TEST_F(ReportCliTest, SweepStoppedBySigintKeepsCompleteFilesForFinishedPoints) {
  const fs::path out = dir_ / "stopped";
  std::string values;
  for (int tokens = 256; tokens <= 4096; tokens += 256) {
    values += values.empty() ? "" : ",";
    values += std::to_string(tokens);
  }
  // The built-in 1024-GPU scenario: about half a second per point on the analytical engine.
  const std::vector<std::string> args{COMET_BINARY, "sweep", "--engine", "analytical", "--jobs", "2", "--set",
                                      "workload.tokens_per_gpu=" + values, "-o", out.string()};
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::freopen((dir_ / "sweep.out").c_str(), "w", stdout);
    std::freopen((dir_ / "sweep.err").c_str(), "w", stderr);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  // Wait for the first finished point, then interrupt.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = read_file(out / "results.json");
    if (!text.empty() && Json::parse(text)["points_finished"].get<int>() >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "stopped cleanly, not killed by the signal";
  EXPECT_EQ(WEXITSTATUS(status), 130) << read_file(dir_ / "sweep.err");
  EXPECT_NE(read_file(dir_ / "sweep.err").find("stopped by SIGINT"), std::string::npos) << read_file(dir_ / "sweep.err");

  const Json results = Json::parse(read_file(out / "results.json"));
  const int finished = results["points_finished"].get<int>();
  EXPECT_GE(finished, 1);
  EXPECT_LT(finished, 16) << "the sweep was stopped midway";
  EXPECT_EQ(results["complete"], false);
  ASSERT_EQ(results["results"].size(), static_cast<std::size_t>(finished));
  for (const Json& row : results["results"]) {
    EXPECT_GT(row["layer_time_s"].get<double>(), 0.0);
    EXPECT_EQ(row["set"]["workload.tokens_per_gpu"], std::to_string(256 * (row["point"].get<int>() + 1)));
  }
  EXPECT_EQ(read_csv(out / "results.csv").size(), static_cast<std::size_t>(finished));
  const std::string html = read_file(out / "report.html");
  EXPECT_EQ(html.substr(html.size() - 8), "</html>\n");
  EXPECT_NE(html.find(std::to_string(finished) + " of 16 points finished"), std::string::npos);
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(out)) names.insert(entry.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"report.html", "results.csv", "results.json"})) << "no temporary files";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(process_with_argument(out.string())) << "every child of the sweep is gone";
}

#ifdef COMET_HAVE_SIMGRID
TEST_F(ReportCliTest, APointThatFailsAtRunTimeStopsTheSweepWithItsMessageAndKeepsTheOthers) {
  // The flow engine refuses clusters above 2048 GPUs when it runs, inside the point's process.
  const std::string scenario = write("s.yaml", SCENARIO);
  const Result sweep = comet("sweep --engine flow --set topology=nvlink-2gpu,fat-tree-10240 --set parallelism.expert_parallel=2 -o " +
                             (dir_ / "out").string() + " " + scenario);
  EXPECT_EQ(sweep.exit_code, 2) << sweep.err;
  EXPECT_NE(sweep.err.find("point 1 (topology=fat-tree-10240 parallelism.expert_parallel=2)"), std::string::npos) << sweep.err;
  EXPECT_NE(sweep.err.find("at most 2048 GPUs"), std::string::npos) << sweep.err;
  const Json results = Json::parse(read_file(dir_ / "out" / "results.json"));
  EXPECT_EQ(results["points_finished"], 1);
  EXPECT_EQ(results["complete"], false);
  EXPECT_EQ(results["results"][0]["set"]["topology"], "nvlink-2gpu");
}
#endif

TEST_F(ReportCliTest, OptionListsMayComeBeforeTheScenarioFileAndJsonGoesToStdout) {
  const std::string scenario = write("s.yaml", SCENARIO);
  const Result compare = comet("compare --engine analytical --placements topology,contiguous --partitions none --a2a direct " +
                               scenario + " --json");
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  const Json compared = Json::parse(compare.out);
  EXPECT_EQ(compared["command"], "compare");
  EXPECT_EQ(compared["results"].size(), 2u);
  EXPECT_EQ(compared["scenario"], "reports-64");
  const Result sweep = comet("sweep --engine analytical --set workload.seed=1,2 " + scenario + " --set workload.tokens_per_gpu=512 --json");
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  const Json swept = Json::parse(sweep.out);
  EXPECT_EQ(swept["points_finished"], 2);
  EXPECT_EQ(swept["keys"], Json::array({"workload.seed", "workload.tokens_per_gpu"}));
}

TEST_F(ReportCliTest, CompareRunsEveryPolicyOfAFamilyTheScenarioDoesNotList) {
  const std::string base = "name: s\ntopology: dgx-h100\nmodel: {preset: mixtral-8x7b}\nparallelism: {expert_parallel: 8}\n"
                           "workload: {tokens_per_gpu: 1024}\n";
  const Result all = comet("compare --engine analytical --json " + write("all.yaml", base));
  ASSERT_EQ(all.exit_code, 0) << all.err;
  std::set<std::string> placements, partitions, a2a;
  const Json results = Json::parse(all.out);  // kept: a range-for over a temporary's member would dangle
  for (const Json& r : results["results"]) {
    placements.insert(r["placement"].get<std::string>());
    partitions.insert(r["partition"].get<std::string>());
    a2a.insert(r["a2a"].get<std::string>());
  }
  EXPECT_EQ(placements, (std::set<std::string>{"contiguous", "strided", "topology", "bottleneck", "replicate:2"}));
  EXPECT_EQ(partitions, (std::set<std::string>{"none", "fixed:4", "dynamic", "fine"}));
  EXPECT_EQ(a2a, (std::set<std::string>{"direct", "hierarchical"}));
  const Result listed = comet("compare --engine analytical --json " +
                              write("listed.yaml", base + "policies: {partition: [none, fine]}\n"));
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(Json::parse(listed.out)["results"].size(), 5u * 2u * 2u) << "the listed family as listed, the others all";
}

struct BadInput {
  const char* label;
  std::string arguments;  // {s} is the scenario path, {d} the test directory
  std::vector<std::string> message_parts;
};

TEST_F(ReportCliTest, BadInputExitsTwoWithAMessageAndWritesNothing) {
  const std::string scenario = write("s.yaml", SCENARIO);
  write("file.txt", "not a directory");
  const std::vector<BadInput> cases{
      {"unknown --set key", "sweep {s} --set workload.tokenz=1,2 -o {d}/o", {"'workload.tokenz'", "unknown key", "tokens_per_gpu"}},
      {"bad --set value", "sweep {s} --set workload.tokens_per_gpu=1024,many -o {d}/o",
       {"--set workload.tokens_per_gpu=many", "value 'many'", "whole number"}},
      {"value the scenario refuses", "sweep {s} --set parallelism.expert_parallel=48 -o {d}/o",
       {"parallelism.expert_parallel", "48", "divisor"}},
      {"--set without =", "sweep {s} --set workload.tokens_per_gpu -o {d}/o", {"--set", "KEY=V1,V2"}},
      {"--set key twice", "sweep {s} --set workload.seed=1 --set workload.seed=2 -o {d}/o", {"set twice"}},
      {"--set below a single value", "sweep {s} --set model.preset.name=x -o {d}/o", {"'model.preset' holds a single value"}},
      {"no --set", "sweep {s} -o {d}/o", {"--set", "nothing to sweep"}},
      {"--jobs 0", "sweep {s} --set workload.seed=1 --jobs 0 -o {d}/o", {"--jobs"}},
      {"unknown placement", "compare {s} --placements contiguous,random -o {d}/o", {"--placements", "random", "strided"}},
      {"bad partition", "compare {s} --partitions fixed:0 -o {d}/o", {"--partitions", "fixed:0", ">= 1"}},
      {"unknown all-to-all", "compare {s} --a2a ring -o {d}/o", {"--a2a", "ring", "hierarchical"}},
      {"unknown engine", "compare {s} --engine quantum -o {d}/o", {"--engine", "quantum"}},
      {"output under a file", "compare {s} --engine analytical -o {d}/file.txt/o", {"-o", "file.txt/o", "cannot create"}},
      {"output is a file", "compare {s} --engine analytical -o {d}/file.txt", {"-o", "not a directory"}},
      {"output not creatable", "sweep {s} --set workload.seed=1 --engine analytical -o /proc/comet-report-test",
       {"-o", "/proc/comet-report-test", "cannot create"}},
  };
  for (const BadInput& c : cases) {
    std::string arguments = c.arguments;
    for (std::size_t at; (at = arguments.find("{s}")) != std::string::npos;) arguments.replace(at, 3, scenario);
    for (std::size_t at; (at = arguments.find("{d}")) != std::string::npos;) arguments.replace(at, 3, dir_.string());
    const Result result = comet(arguments);
    EXPECT_EQ(result.exit_code, 2) << c.label << ": " << result.err;
    for (const std::string& part : c.message_parts)
      EXPECT_NE(result.err.find(part), std::string::npos) << c.label << ": message lacks \"" << part << "\":\n" << result.err;
    EXPECT_EQ(result.err.find("internal error"), std::string::npos) << c.label;
    EXPECT_FALSE(fs::exists(dir_ / "o")) << c.label << ": nothing is written on bad input";
  }
}

// ---- the HTML reports in headless Chromium ----

struct Rendered {
  std::vector<std::string> console;  // console messages and uncaught errors
  fs::path screenshot;
};

Rendered render(const fs::path& html, const fs::path& work) {
  Rendered rendered;
  rendered.screenshot = work / (html.stem().string() + "-" + html.parent_path().filename().string() + ".png");
  const fs::path log = work / "chromium.log";
  const std::string command =
      "timeout 120 " + std::string(COMET_CHROMIUM) +
      " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --no-default-browser-check"
      " --disable-extensions --hide-scrollbars --user-data-dir=" + (work / "profile").string() +
      " --window-size=1200,2400 --enable-logging=stderr --v=0 --host-resolver-rules=\"MAP * ~NOTFOUND\""
      " --screenshot=" + rendered.screenshot.string() + " file://" + fs::absolute(html).string() + " > " + log.string() + " 2>&1";
  const int status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command << "\n" << read_file(log);
  std::istringstream lines(read_file(log));
  for (std::string line; std::getline(lines, line);)
    if (line.find(":CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos)
      rendered.console.push_back(line);
  return rendered;
}

#ifdef COMET_HAVE_PNG
struct PixelStats {
  double luminance_variance = 0.0;
  double non_white_share = 0.0;
};

PixelStats pixel_stats(const fs::path& png) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, png.c_str())) return {};
  image.format = PNG_FORMAT_RGB;
  std::vector<png_byte> pixels(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) return {};
  double sum = 0.0, squares = 0.0;
  std::size_t non_white = 0;
  const std::size_t count = pixels.size() / 3;
  for (std::size_t i = 0; i < count; ++i) {
    const double y = 0.299 * pixels[3 * i] + 0.587 * pixels[3 * i + 1] + 0.114 * pixels[3 * i + 2];
    sum += y;
    squares += y * y;
    non_white += y < 245;
  }
  const double mean = sum / count;
  return {squares / count - mean * mean, static_cast<double>(non_white) / count};
}
#endif

TEST_F(ReportCliTest, HtmlReportsRenderInHeadlessChromiumWithoutConsoleErrors) {
  if (std::string(COMET_CHROMIUM).empty()) GTEST_SKIP() << "chromium not found (scripts/setup.sh installs it)";
#ifndef COMET_HAVE_PNG
  GTEST_SKIP() << "libpng not found (scripts/setup.sh installs libpng-dev)";
#else
  // Controls: the checks must be able to fail. A page with a console error is caught, and an
  // empty page is blank.
  write("bad.html", "<!DOCTYPE html><html><body><p>x</p><script>console.error('deliberate'); missing();</script></body></html>");
  const Rendered bad = render(dir_ / "bad.html", dir_);
  EXPECT_EQ(bad.console.size(), 2u) << "console detection works";
  write("empty.html", "<!DOCTYPE html><html><body></body></html>");
  const PixelStats empty = pixel_stats(render(dir_ / "empty.html", dir_).screenshot);
  EXPECT_LT(empty.non_white_share, 0.001) << "blank detection works";

  const std::string scenario = write("s.yaml", SCENARIO);
  ASSERT_EQ(comet("compare --engine analytical -o " + (dir_ / "compare").string() + " " + scenario).exit_code, 0);
  ASSERT_EQ(comet("sweep --engine analytical --set workload.tokens_per_gpu=512,1024,2048 --set workload.seed=1,2 -o " +
                  (dir_ / "sweep").string() + " " + scenario).exit_code, 0);
  for (const fs::path& html : {dir_ / "compare" / "report.html", dir_ / "sweep" / "report.html"}) {
    const std::string text = read_file(html);
    EXPECT_EQ(text.find("<script"), std::string::npos) << "no scripts: " << html;
    EXPECT_EQ(text.find("http://"), std::string::npos) << "nothing from the network: " << html;
    EXPECT_EQ(text.find("https://"), std::string::npos) << "nothing from the network: " << html;
    const Rendered page = render(html, dir_);
    EXPECT_TRUE(page.console.empty()) << html << ":\n" << (page.console.empty() ? "" : page.console.front());
    ASSERT_TRUE(fs::exists(page.screenshot)) << html;
    const PixelStats stats = pixel_stats(page.screenshot);
    EXPECT_GT(stats.non_white_share, 0.03) << html;
    EXPECT_GT(stats.luminance_variance, 200.0) << html;
  }
#endif
}

}  // namespace
