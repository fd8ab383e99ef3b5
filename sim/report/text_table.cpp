#include "text_table.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "svg.hpp"

namespace comet {
namespace {

std::string pad(const std::string& text, std::size_t width, bool right) {
  return right ? fmt::format("{:>{}}", text, width) : fmt::format("{:<{}}", text, width);
}

std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

}  // namespace

std::string format_text_table(const Table& table) {
  std::vector<std::size_t> widths;
  for (std::size_t c = 0; c < table.columns.size(); ++c) {
    std::size_t width = std::max(table.columns[c].title.size(), table.columns[c].unit.size());
    if (c == 0) width = std::max<std::size_t>(width, 1);
    for (const auto& row : table.rows) width = std::max(width, c < row.size() ? row[c].size() : 0);
    widths.push_back(width);
  }
  auto line = [&](auto cell_of) {
    std::string text;
    for (std::size_t c = 0; c < table.columns.size(); ++c) {
      text += c ? " " : "";
      text += pad(cell_of(c), widths[c], table.columns[c].right_aligned);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text + "\n";
  };
  std::string out = line([&](std::size_t c) { return table.columns[c].title; });
  out += line([&](std::size_t c) { return c == 0 ? std::string("#") : table.columns[c].unit; });
  for (const auto& row : table.rows) out += line([&](std::size_t c) { return c < row.size() ? row[c] : ""; });
  return out;
}

std::string format_markdown_table(const Table& table) {
  std::string header = "|", rule = "|";
  for (const TableColumn& column : table.columns) {
    header += fmt::format(" {} |", markdown_cell(column.unit.empty() ? column.title : fmt::format("{} ({})", column.title, column.unit)));
    rule += column.right_aligned ? " ---: |" : " --- |";
  }
  std::string out = header + "\n" + rule + "\n";
  for (const auto& row : table.rows) {
    out += "|";
    for (std::size_t c = 0; c < table.columns.size(); ++c) out += fmt::format(" {} |", markdown_cell(c < row.size() ? row[c] : ""));
    out += "\n";
  }
  return out;
}

std::string format_html_table(const Table& table, int highlight_row) {
  std::string out = "<table>\n<thead><tr>";
  for (const TableColumn& column : table.columns)
    out += fmt::format("<th>{}{}</th>", escape_xml(column.title),
                       column.unit.empty() ? "" : fmt::format("<br><small>{}</small>", escape_xml(column.unit)));
  out += "</tr></thead>\n<tbody>\n";
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    out += static_cast<int>(r) == highlight_row ? "<tr class=\"best\">" : "<tr>";
    for (std::size_t c = 0; c < table.columns.size(); ++c)
      out += fmt::format("<td{}>{}</td>", table.columns[c].right_aligned ? " class=\"num\"" : "",
                         escape_xml(c < table.rows[r].size() ? table.rows[r][c] : ""));
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

}  // namespace comet
