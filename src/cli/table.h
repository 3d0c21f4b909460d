// Human-readable `cloudlet status`: a section per switch (ports, VLANs, MAC table) and the endpoints, in aligned
// columns with human-readable numbers. Rendered from the status JSON, so the table shows exactly what scripts see.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cloudlet::cli {

// 999, 1.2k, 3.4M, 5.6G
std::string HumanCount(uint64_t n);
// 512 B, 1.2 KiB, 3.4 MiB, 5.6 GiB
std::string HumanBytes(uint64_t n);
// "1-3,10,20-22": compact list of VLAN ids (sorted input)
std::string VlanRanges(const std::vector<uint16_t>& ids);

// Columns padded to their widest cell; numeric columns right-aligned.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers, std::vector<bool> numeric = {});
  void AddRow(std::vector<std::string> cells);
  std::string Render(const std::string& indent) const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> headers_;
  std::vector<bool> numeric_;
  std::vector<std::vector<std::string>> rows_;
};

std::string RenderStatusTable(const nlohmann::json& status);

}  // namespace cloudlet::cli
