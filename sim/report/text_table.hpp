// One table, three renderings: fixed-width text for the terminal (a units row that starts with
// '#', as every comet table), Markdown and HTML. Cells are already formatted strings.
#pragma once

#include <string>
#include <vector>

namespace comet {

struct TableColumn {
  std::string title;
  std::string unit;  ///< "ms", "x", "" for names
  bool right_aligned = true;
};

struct Table {
  std::vector<TableColumn> columns;
  std::vector<std::vector<std::string>> rows;
};

std::string format_text_table(const Table& table);
std::string format_markdown_table(const Table& table);
/// A <table> with escaped cells; `highlight_row` (or -1) gets class="best".
std::string format_html_table(const Table& table, int highlight_row = -1);

}  // namespace comet
