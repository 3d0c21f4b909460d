// libFuzzer target for the Containerfile parser and variable substitution (image/containerfile.h). Invariants
// (abort() on violation): a parse either fails with an error naming the file ("Containerfile:" or
// "Containerfile:<line>:") or yields instructions whose lines are within the input and increase, whose Display()
// starts with the instruction's name, and whose exec-form arguments exist only when `json` is set. Expand never
// changes a word without quotes, backslashes or '$', and ExpandWords never yields more words than there are
// whitespace-separated pieces.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "image/containerfile.h"

namespace cloudlet::image {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckInstruction(const Instruction& ins, int lines, int* last) {
  Check(ins.line >= 1 && ins.line <= lines);
  Check(ins.line > *last);
  *last = ins.line;
  Check(ins.Display().starts_with(InstructionName(ins.kind)));
  Check(ins.json || ins.json_args.empty());
}

void FuzzOne(std::string_view text) {
  int lines = 1;
  for (char c : text) lines += c == '\n' ? 1 : 0;
  const Result<Containerfile> f = ParseContainerfile(text);
  if (!f.ok()) {
    Check(f.error().message().starts_with("Containerfile:"));
  } else {
    int last = 0;
    for (const Instruction& a : f->global_args) CheckInstruction(a, lines, &last);
    CheckInstruction(f->from, lines, &last);
    Check(f->from.kind == InstructionKind::kFrom);
    for (const Instruction& s : f->steps) {
      CheckInstruction(s, lines, &last);
      Check(s.kind != InstructionKind::kFrom);
    }
  }

  const Variables vars = {{"A", "x"}, {"EMPTY", ""}, {"LONG", std::string(64, 'y')}};
  const std::string_view word = text.substr(0, 512);
  const Result<std::string> expanded = Expand(word, vars);
  if (word.find_first_of("$'\"\\") == std::string_view::npos) Check(expanded.ok() && *expanded == word);
  const Result<std::vector<std::string>> words = ExpandWords(word, vars);
  if (words.ok()) {
    size_t pieces = 0;
    bool in = false;
    for (char c : word) {
      bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
      if (!space && !in) ++pieces;
      in = !space;
    }
    Check(words->size() <= pieces);
  }
}

}  // namespace
}  // namespace cloudlet::image

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cloudlet::image::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
