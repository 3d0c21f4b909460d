// Containerfile (Dockerfile) parsing for `cloudlet image build`: bytes in, instructions with line numbers out. Pure —
// no file system, no environment. Variable substitution needs the build's state (ARG values, ENV so far), so the
// parser keeps arguments as written and the builder expands them with Expand/ExpandWords when it reaches the step.
//
// The subset understood (Docker's rules for each):
//   FROM [--platform=P] image|scratch [AS name]   ARG name[=default]...      ENV k=v... | ENV k v
//   RUN cmd | RUN ["exe","arg"]                  LABEL k=v...                EXPOSE port[/tcp|/udp]...
//   COPY [--chown=u:g] [--chmod=755] src... dest (or a JSON array)          WORKDIR path    USER user[:group]
//   ADD  [--chown=u:g] [--chmod=755] src... dest (a local tar is unpacked)  ENTRYPOINT / CMD: JSON or shell form
// Lines ending in `\` continue on the next line; lines starting with `#` are comments (also inside a continuation);
// instruction names are case-insensitive. Parser directives at the top: `# syntax=...` is accepted and ignored (this
// parser is the frontend), `# escape=\` is accepted, any other escape character is refused. Refused with an error
// naming the line: multi-stage builds (a second FROM, COPY --from), RUN flags (--mount, --network), heredocs, and the
// instructions cloudlet does not implement (SHELL, VOLUME, HEALTHCHECK, ONBUILD, STOPSIGNAL, MAINTAINER).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace cloudlet::image {

enum class InstructionKind {
  kFrom,
  kArg,
  kRun,
  kCopy,
  kAdd,
  kEnv,
  kLabel,
  kExpose,
  kWorkdir,
  kUser,
  kEntrypoint,
  kCmd
};

// "FROM", "RUN", ...
const char* InstructionName(InstructionKind kind);

struct KeyValue {
  std::string key;    // as written (ENV/LABEL keys may be quoted: expand them too)
  std::string value;  // as written, unexpanded; for ARG without a default: empty and has_value false
  bool has_value = true;
  bool operator==(const KeyValue&) const = default;
};

struct Instruction {
  InstructionKind kind = InstructionKind::kRun;
  int line = 0;  // 1-based line of the instruction's keyword
  // --name=value flags before the arguments, in order ("--chown=1:2" -> {"chown", "1:2"}).
  std::vector<std::pair<std::string, std::string>> flags;
  // The arguments after the flags as written, continuations joined, surrounding whitespace trimmed.
  std::string text;
  // The arguments were a JSON array of strings (exec form); `json_args` holds its elements.
  bool json = false;
  std::vector<std::string> json_args;
  // ENV, LABEL and ARG: the pairs, unexpanded.
  std::vector<KeyValue> pairs;

  // The instruction in one line as the user wrote it ("COPY --chown=1:1 a b"): step lines, history, cache keys.
  std::string Display() const;
  const std::string* Flag(std::string_view name) const;  // null when not given
};

struct Containerfile {
  // The ARG instructions before FROM (their values are usable in FROM only, unless redeclared after it).
  std::vector<Instruction> global_args;
  Instruction from;
  std::vector<Instruction> steps;  // everything after FROM, in order
};

// Parses `text`. Errors read "<name>:<line>: <problem>".
Result<Containerfile> ParseContainerfile(std::string_view text, std::string_view name = "Containerfile");

// Variable substitution as Docker does it for ADD, COPY, ENV, EXPOSE, FROM, LABEL, USER, WORKDIR: $VAR, ${VAR},
// ${VAR:-default} (default when unset or empty), ${VAR:+alt} (alt when set and non-empty), ${VAR-default} and
// ${VAR+alt} (unset only); quotes are removed ('...' literal, "..." with $ expanded and \" \$ \\ escapes); `\x` outside
// quotes is x. Unset variables expand to "". Errors: unterminated quote or ${, an unsupported ${VAR<op>...} form.
using Variables = std::map<std::string, std::string>;
Result<std::string> Expand(std::string_view word, const Variables& vars);
// Splits `text` on unquoted whitespace, then expands each word (expansion results are not split again).
Result<std::vector<std::string>> ExpandWords(std::string_view text, const Variables& vars);

}  // namespace cloudlet::image
