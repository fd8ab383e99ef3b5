#include "compare_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "html_page.hpp"
#include "policy_advice.hpp"
#include "svg.hpp"

namespace comet {
namespace {

const std::vector<std::pair<std::string, std::string>> TIERS{
    {"intra_node", "#59a14f"}, {"leaf", "#76b7b2"}, {"spine", "#edc948"}, {"core", "#e15759"}};

const std::vector<std::pair<std::string, std::string>> ACTIVITY_COLORS{
    {"non_moe", "#bab0ac"},   {"gate", "#9c755f"},      {"permute", "#76b7b2"},     {"expert_gemm", "#4e79a7"},
    {"expert_wgrad", "#a0cbe8"}, {"shared_expert", "#8cd17d"}, {"unpermute", "#59a14f"}, {"dispatch", "#f28e2b"},  {"combine", "#e15759"},     {"combine_grad", "#b07aa1"},
    {"dispatch_grad", "#ff9da7"}};

std::vector<Result> results_of(const std::vector<ComparedPolicy>& policies) {
  std::vector<Result> results;
  for (const ComparedPolicy& p : policies) results.push_back(p.result);
  return results;
}

StackedBars time_chart(const CompareReport& report) {
  StackedBars chart{"Layer time per policy: compute, exposed communication and imbalance (critical GPU)", "ms per layer", {},
                    {{"compute", "#4e79a7"}, {"exposed communication", "#f28e2b"}, {"imbalance", "#e15759"}}, {}};
  for (const ComparedPolicy& p : report.ranked) {
    const double layers = layer_count(p.result);
    chart.labels.push_back(policy_label(p.result));
    chart.values.push_back({p.result.at("compute_s").get<double>() / layers * 1e3,
                            p.result.at("exposed_comm_s").get<double>() / layers * 1e3,
                            p.result.value("imbalance_s", 0.0) / layers * 1e3});
  }
  return chart;
}

// The best policy's critical path, op by op (the first 60; the JSON has them all).
Table critical_path_table(const Result& best) {
  constexpr std::size_t MAX_ROWS = 60;
  Table table{{{"op", "", true}, {"kind", "", false}, {"GPU", "", true}, {"layer", "", true}, {"direction", "", false},
               {"chunk", "", true}, {"compute", "ms", true}, {"all-to-all", "ms", true}, {"imbalance", "ms", true}},
              {}};
  if (!best.contains("critical_path")) return table;
  for (const auto& op : best.at("critical_path").at("ops")) {
    if (table.rows.size() == MAX_ROWS) break;
    const int gpu = op.at("gpu").get<int>();
    table.rows.push_back({std::to_string(op.at("op").get<int>()), op.at("kind").get<std::string>(),
                          gpu < 0 ? fmt::format("group {}", op.at("group").get<int>()) : std::to_string(gpu),
                          std::to_string(op.at("layer").get<int>()), op.at("direction").get<std::string>(),
                          std::to_string(op.at("chunk").get<int>()), fmt::format("{:.3f}", op.at("compute_s").get<double>() * 1e3),
                          fmt::format("{:.3f}", op.at("all_to_all_s").get<double>() * 1e3),
                          fmt::format("{:.3f}", op.at("imbalance_s").get<double>() * 1e3)});
  }
  return table;
}

// Bytes do not depend on the partition: one bar per placement and all-to-all algorithm, from the
// first result (in rank order) that has them.
StackedBars bytes_chart(const CompareReport& report) {
  StackedBars chart{"All-to-all bytes per tier, per placement and all-to-all algorithm", "GB per run", {}, TIERS, {}};
  std::map<std::string, bool> seen;
  std::vector<std::pair<std::string, const Result*>> bars;
  for (const ComparedPolicy& p : report.ranked) {
    const std::string label =
        fmt::format("{} / {}", p.result.at("placement").get<std::string>(), p.result.at("a2a").get<std::string>());
    if (!seen.emplace(label, true).second) continue;
    bars.emplace_back(label, &p.result);
  }
  std::sort(bars.begin(), bars.end());
  for (const auto& [label, result] : bars) {
    chart.labels.push_back(label);
    std::vector<double> values;
    for (const auto& tier : TIERS) values.push_back(result->at("bytes_by_tier").at(tier.first).get<double>() / 1e9);
    chart.values.push_back(std::move(values));
  }
  return chart;
}

void add_gantt_rows(const std::string& who, const ComparedPolicy& p, GanttChart& chart) {
  for (const bool communication : {false, true}) {
    std::vector<const ActivityBar*> bars;
    std::vector<std::pair<double, double>> intervals;
    for (const ActivityBar& bar : p.critical_gpu)
      if (bar.communication == communication) {
        bars.push_back(&bar);
        intervals.emplace_back(bar.start_s, bar.end_s);
      }
    const std::vector<int> lanes = assign_lanes(intervals);
    const int num_lanes = lanes.empty() ? 1 : *std::max_element(lanes.begin(), lanes.end()) + 1;
    for (int lane = 0; lane < num_lanes; ++lane) {
      GanttRow row;
      row.label = fmt::format("{}{} {}{}", who, communication ? "" : fmt::format(" GPU {}", p.result.at("critical_gpu").get<int>()),
                              communication ? "all-to-all" : "compute", lane ? fmt::format(" ({})", lane + 1) : "");
      row.starts_group = !communication && lane == 0;
      for (std::size_t i = 0; i < bars.size(); ++i)
        if (lanes[i] == lane)
          row.bars.push_back({bars[i]->start_s, bars[i]->end_s, bars[i]->name,
                              fmt::format("{} (op {}): {:.3f} - {:.3f} ms", bars[i]->name, bars[i]->op,
                                          bars[i]->start_s * 1e3, bars[i]->end_s * 1e3)});
      chart.rows.push_back(std::move(row));
    }
  }
}

GanttChart gantt(const CompareReport& report) {
  GanttChart chart{"The critical GPU's compute and its group's all-to-all: best policy and baseline", {}, ACTIVITY_COLORS};
  const ComparedPolicy& best = report.ranked.front();
  add_gantt_rows(fmt::format("best {}:", policy_label(best.result)), best, chart);
  if (!is_baseline(best.result)) add_gantt_rows("baseline:", report.baseline, chart);
  return chart;
}

std::string bytes_table_markdown(const StackedBars& bytes) {
  Table table{{{"placement / a2a", "", false}}, {}};
  for (const auto& tier : TIERS) table.columns.push_back({tier.first, "GB", true});
  for (std::size_t i = 0; i < bytes.labels.size(); ++i) {
    std::vector<std::string> row{bytes.labels[i]};
    for (double v : bytes.values[i]) row.push_back(fmt::format("{:.2f}", v));
    table.rows.push_back(std::move(row));
  }
  return format_markdown_table(table);
}

std::string links_table_markdown(const CompareReport& report) {
  Table table{{{"policy", "", false}, {"most loaded link", "", false}, {"mean utilisation", "%", true},
               {"while busy", "%", true}},
              {}};
  for (const ComparedPolicy& p : report.ranked)
    table.rows.push_back({policy_label(p.result), p.result.at("max_link").get<std::string>(),
                          fmt::format("{:.1f}", 100 * p.result.at("max_link_mean_utilization").get<double>()),
                          fmt::format("{:.1f}", 100 * p.result.value("max_link_busy_utilization", 0.0))});
  return format_markdown_table(table);
}

std::string paragraph(const std::vector<std::string>& sentences) {
  std::string text;
  for (const std::string& s : sentences) {
    text += text.empty() ? "" : " ";
    text += s;
  }
  return text;
}

}  // namespace

std::string trace_file_name(const Result& r) {
  std::string name = fmt::format("trace-{}_{}_{}.json", r.at("placement").get<std::string>(),
                                 r.at("partition").get<std::string>(), r.at("a2a").get<std::string>());
  std::replace(name.begin(), name.end(), ':', '-');
  return name;
}

Table ranking_table(const std::vector<ComparedPolicy>& ranked) {
  Table table{{{"rank", "", true}, {"placement", "", false}, {"partition", "", false}, {"a2a", "", false}}, {}};
  for (TableColumn& column : metric_columns()) table.columns.push_back(std::move(column));
  for (std::size_t i = 0; i < ranked.size(); ++i) {
    const Result& r = ranked[i].result;
    std::vector<std::string> row{std::to_string(i + 1), r.at("placement").get<std::string>(),
                                 r.at("partition").get<std::string>(), r.at("a2a").get<std::string>()};
    for (std::string& cell : metric_cells(r)) row.push_back(std::move(cell));
    table.rows.push_back(std::move(row));
  }
  return table;
}

std::string compare_markdown(const CompareReport& report) {
  std::string md = fmt::format("# comet compare: {}\n\n", report.scenario);
  for (const std::string& line : report.parameters) md += fmt::format("- {}\n", line);
  md += fmt::format("\n## What to pick and why\n\n{}\n",
                    paragraph(policy_advice(results_of(report.ranked), report.baseline.result)));
  md += "\n## Ranking\n\nRanked by layer time; compute and exposed communication are the critical GPU's, per layer; "
        "speedup is against contiguous / none / direct.\n\n";
  md += format_markdown_table(ranking_table(report.ranked));
  md += "\n## Bytes per tier\n\n";
  md += bytes_table_markdown(bytes_chart(report));
  md += "\n## Most loaded link per policy\n\n";
  md += links_table_markdown(report);
  std::string traces;
  for (const ComparedPolicy& p : report.ranked)
    if (!p.trace_file.empty()) traces += fmt::format("- `{}`: {}\n", p.trace_file, policy_label(p.result));
  if (!traces.empty())
    md += "\n## Traces\n\nOpen in https://ui.perfetto.dev or chrome://tracing:\n\n" + traces;
  md += "\nCharts (time per policy, bytes per tier, Gantt of the critical GPU, link heat map): report.html.\n";
  return md;
}

std::string compare_html(const CompareReport& report) {
  std::string body = fmt::format("<h1>comet compare: {}</h1>\n<div class=\"params\">", escape_xml(report.scenario));
  for (const std::string& line : report.parameters) body += escape_xml(line) + "\n";
  body += "</div>\n<h2>What to pick and why</h2>\n";
  body += fmt::format("<p class=\"advice\">{}</p>\n",
                      escape_xml(paragraph(policy_advice(results_of(report.ranked), report.baseline.result))));
  body += "<h2>Ranking</h2>\n<p>Ranked by layer time; compute and exposed communication are the critical GPU's, per "
          "layer; speedup is against contiguous / none / direct.</p>\n";
  body += format_html_table(ranking_table(report.ranked), 0);
  body += "<h2>Compute, exposed communication and imbalance</h2>\n";
  body += stacked_bar_chart(time_chart(report));
  if (!report.ranked.empty() && report.ranked.front().result.contains("critical_path")) {
    const Result& best = report.ranked.front().result;
    body += fmt::format("<h2>Critical path of {}</h2>\n<p>The ops that decided when the run ended, in time order, and "
                        "what each contributed: computation (of critical GPU {}, or another GPU's as long as its own "
                        "took), all-to-all, or imbalance (waiting for a more loaded GPU).</p>\n",
                        escape_xml(policy_label(best)), best.at("critical_gpu").get<int>());
    body += format_html_table(critical_path_table(best));
  }
  body += "<h2>Bytes per tier</h2>\n";
  body += stacked_bar_chart(bytes_chart(report));
  body += "<h2>Critical GPU timeline</h2>\n";
  body += gantt_chart(gantt(report));
  if (!report.busiest_links.column_labels.empty()) {
    body += "<h2>Most loaded links</h2>\n";
    body += heat_map(report.busiest_links);
  }
  std::string traces;
  for (const ComparedPolicy& p : report.ranked)
    if (!p.trace_file.empty())
      traces += fmt::format("<li><code>{}</code>: {}</li>\n", escape_xml(p.trace_file), escape_xml(policy_label(p.result)));
  if (!traces.empty())
    body += "<h2>Traces</h2>\n<p>Trace-event JSON files beside this report; open them in ui.perfetto.dev or "
            "chrome://tracing.</p>\n<ul>\n" + traces + "</ul>\n";
  return html_page(fmt::format("comet compare: {}", report.scenario), body);
}

}  // namespace comet
