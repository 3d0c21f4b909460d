#include "image/containerfile.h"

#include <gtest/gtest.h>

namespace cloudlet::image {
namespace {

Containerfile MustParse(std::string_view text) {
  Result<Containerfile> f = ParseContainerfile(text);
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message());
  return f.ok() ? *f : Containerfile{};
}

std::string ParseError(std::string_view text) {
  Result<Containerfile> f = ParseContainerfile(text);
  EXPECT_FALSE(f.ok()) << "parsed: " << text;
  return f.ok() ? "" : f.error().message();
}

TEST(ContainerfileTest, EveryInstruction) {
  Containerfile f = MustParse(R"(# a comment
ARG BASE=busybox
FROM ${BASE}:latest AS app
ARG VERSION
ENV A=1 B="two words"
LABEL org.example.x=y
EXPOSE 80 53/udp
WORKDIR /app
USER nobody:nogroup
COPY --chown=1:2 --chmod=0644 a b /dst/
ADD archive.tar /opt
RUN echo hi
RUN ["/bin/true", "x"]
ENTRYPOINT ["/app"]
CMD exec app --help
)");
  ASSERT_EQ(f.global_args.size(), 1u);
  EXPECT_EQ(f.global_args[0].pairs[0], (KeyValue{"BASE", "busybox", true}));
  EXPECT_EQ(f.from.kind, InstructionKind::kFrom);
  EXPECT_EQ(f.from.line, 3);
  EXPECT_EQ(f.from.text, "${BASE}:latest AS app");
  ASSERT_EQ(f.steps.size(), 12u);
  const InstructionKind kinds[] = {InstructionKind::kArg,    InstructionKind::kEnv,        InstructionKind::kLabel,
                                   InstructionKind::kExpose, InstructionKind::kWorkdir,    InstructionKind::kUser,
                                   InstructionKind::kCopy,   InstructionKind::kAdd,        InstructionKind::kRun,
                                   InstructionKind::kRun,    InstructionKind::kEntrypoint, InstructionKind::kCmd};
  for (size_t i = 0; i < std::size(kinds); ++i) EXPECT_EQ(f.steps[i].kind, kinds[i]) << i;
  EXPECT_EQ(f.steps[0].pairs[0], (KeyValue{"VERSION", "", false}));
  ASSERT_EQ(f.steps[1].pairs.size(), 2u);
  EXPECT_EQ(f.steps[1].pairs[1], (KeyValue{"B", "\"two words\"", true}));
  EXPECT_EQ(f.steps[6].flags.size(), 2u);
  ASSERT_NE(f.steps[6].Flag("chown"), nullptr);
  EXPECT_EQ(*f.steps[6].Flag("chown"), "1:2");
  EXPECT_EQ(*f.steps[6].Flag("chmod"), "0644");
  EXPECT_EQ(f.steps[6].text, "a b /dst/");
  EXPECT_EQ(f.steps[6].Display(), "COPY --chown=1:2 --chmod=0644 a b /dst/");
  EXPECT_FALSE(f.steps[8].json);
  EXPECT_EQ(f.steps[8].text, "echo hi");
  EXPECT_EQ(f.steps[8].line, 12);
  EXPECT_TRUE(f.steps[9].json);
  EXPECT_EQ(f.steps[9].json_args, (std::vector<std::string>{"/bin/true", "x"}));
  EXPECT_TRUE(f.steps[10].json);
  EXPECT_FALSE(f.steps[11].json);
  EXPECT_EQ(f.steps[11].text, "exec app --help");
}

TEST(ContainerfileTest, ContinuationsCommentsAndCase) {
  Containerfile f = MustParse(
      "from scratch\n"
      "run echo a \\\n"
      "  # a comment inside\n"
      "\n"
      "  && echo b\\   \n"
      "c\r\n"
      "Copy x /y\n");
  ASSERT_EQ(f.steps.size(), 2u);
  EXPECT_EQ(f.steps[0].kind, InstructionKind::kRun);
  EXPECT_EQ(f.steps[0].line, 2);
  EXPECT_EQ(f.steps[0].text, "echo a   && echo bc");
  EXPECT_EQ(f.steps[1].line, 7);
  EXPECT_EQ(f.steps[1].kind, InstructionKind::kCopy);
}

TEST(ContainerfileTest, EnvForms) {
  Containerfile f = MustParse("FROM scratch\nENV PATH /usr/bin:/bin with spaces\nENV a=1 'b'=\"x y\" c=\\ z\n");
  ASSERT_EQ(f.steps.size(), 2u);
  EXPECT_EQ(f.steps[0].pairs, (std::vector<KeyValue>{{"PATH", "/usr/bin:/bin with spaces", true}}));
  ASSERT_EQ(f.steps[1].pairs.size(), 3u);
  EXPECT_EQ(f.steps[1].pairs[1].key, "'b'");
  EXPECT_EQ(f.steps[1].pairs[2].value, "\\ z");
}

TEST(ContainerfileTest, Directives) {
  MustParse("# syntax=docker/dockerfile:1\n# escape=\\\nFROM scratch\n");
  EXPECT_EQ(ParseError("# escape=`\nFROM scratch\n"),
            "Containerfile:1: the parser directive escape=` is not supported; only the default escape character \\ "
            "is");
  // After the first instruction or comment, "# escape=`" is only a comment.
  MustParse("# hello\n# escape=`\nFROM scratch\n");
}

TEST(ContainerfileTest, ErrorsNameTheLine) {
  EXPECT_EQ(ParseError("FROM scratch\n\nFOO bar\n"), "Containerfile:3: unknown instruction FOO");
  EXPECT_EQ(ParseError("FROM scratch\nVOLUME /data\n"),
            "Containerfile:2: VOLUME is not supported by cloudlet image build");
  EXPECT_EQ(ParseError("RUN true\nFROM scratch\n"), "Containerfile:1: RUN before FROM (only ARG may come first)");
  EXPECT_EQ(ParseError("# only a comment\n"), "Containerfile: no FROM instruction");
  EXPECT_EQ(ParseError("FROM a\nFROM b\n"), "Containerfile:2: a second FROM: multi-stage builds are not supported");
  EXPECT_EQ(ParseError("FROM scratch\nCOPY --from=x a b\n"),
            "Containerfile:2: COPY --from is not supported (cloudlet builds a single stage)");
  EXPECT_EQ(ParseError("FROM scratch\nCOPY a\n"), "Containerfile:2: COPY needs at least one source and a destination");
  EXPECT_EQ(ParseError("FROM scratch\nRUN --mount=type=cache,target=/x true\n"),
            "Containerfile:2: RUN --mount is not supported (RUN steps take no flags)");
  EXPECT_EQ(ParseError("FROM scratch\nRUN <<EOF\necho\nEOF\n"),
            "Containerfile:2: heredocs (RUN <<EOF) are not supported; put the script in the context and COPY it");
  EXPECT_EQ(ParseError("FROM scratch\nENV\n"), "Containerfile:2: ENV needs at least one argument");
  EXPECT_EQ(ParseError("FROM scratch\nENV a=1 b\n"), "Containerfile:2: ENV b: expected key=value");
  EXPECT_EQ(ParseError("FROM scratch\nENV onlykey\n"), "Containerfile:2: ENV onlykey: needs a value (ENV key=value)");
  EXPECT_EQ(ParseError("FROM scratch\nLABEL a=\"open\n"), "Containerfile:2: unterminated double quote");
  EXPECT_EQ(ParseError("FROM scratch\nCOPY --chmod=u+x a b\n"),
            "Containerfile:2: COPY --chmod=u+x: only octal modes (such as 0755) are supported");
  EXPECT_EQ(ParseError("FROM scratch\nADD --checksum=sha256:x a b\n"),
            "Containerfile:2: ADD --checksum is not supported (known: --chown, --chmod)");
  EXPECT_EQ(ParseError("FROM a b\n"), "Containerfile:1: FROM takes an image (or scratch) and optionally AS name");
  EXPECT_EQ(ParseError("FROM scratch\nCMD --help\n"), "Containerfile:2: CMD --help is not supported");
  EXPECT_EQ(ParseError("FROM scratch\nWORKDIR\n"), "Containerfile:2: WORKDIR needs an argument");
  EXPECT_EQ(ParseError("ARG 1x\nFROM scratch\n"),
            "Containerfile:1: ARG 1x: a name is letters, digits and _ (not starting with a digit)");
  Result<Containerfile> named = ParseContainerfile("FROM scratch\nBAD\n", "Dockerfile.dev");
  ASSERT_FALSE(named.ok());
  EXPECT_EQ(named.error().message(), "Dockerfile.dev:2: unknown instruction BAD");
}

TEST(ContainerfileTest, ShellFormWhenJsonIsInvalid) {
  Containerfile f = MustParse("FROM scratch\nCMD [\"a\", 1]\nENTRYPOINT []\n");
  EXPECT_FALSE(f.steps[0].json);
  EXPECT_EQ(f.steps[0].text, "[\"a\", 1]");
  EXPECT_TRUE(f.steps[1].json);
  EXPECT_TRUE(f.steps[1].json_args.empty());
}

TEST(ContainerfileTest, Substitution) {
  const Variables vars = {{"A", "x"}, {"EMPTY", ""}, {"P", "/usr/bin"}};
  auto expand = [&](std::string_view w) {
    Result<std::string> r = Expand(w, vars);
    EXPECT_TRUE(r.ok()) << w << ": " << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : "<error>";
  };
  EXPECT_EQ(expand("$A"), "x");
  EXPECT_EQ(expand("${A}y"), "xy");
  EXPECT_EQ(expand("$Ay"), "");  // the variable "Ay" is unset
  EXPECT_EQ(expand("$UNSET-"), "-");
  EXPECT_EQ(expand("${UNSET:-def}"), "def");
  EXPECT_EQ(expand("${EMPTY:-def}"), "def");
  EXPECT_EQ(expand("${EMPTY-def}"), "");
  EXPECT_EQ(expand("${A:-def}"), "x");
  EXPECT_EQ(expand("${A:+alt}"), "alt");
  EXPECT_EQ(expand("${EMPTY:+alt}"), "");
  EXPECT_EQ(expand("${EMPTY+alt}"), "alt");
  EXPECT_EQ(expand("${UNSET+alt}"), "");
  EXPECT_EQ(expand("${UNSET:-${P}/x}"), "/usr/bin/x");
  EXPECT_EQ(expand("'$A'"), "$A");
  EXPECT_EQ(expand("\"$A \\$A \\\"q\\\"\""), "x $A \"q\"");
  EXPECT_EQ(expand("\\$A"), "$A");
  EXPECT_EQ(expand("a\\ b"), "a b");
  EXPECT_EQ(expand("100$"), "100$");
  EXPECT_EQ(expand("$1"), "$1");

  EXPECT_FALSE(Expand("${A", vars).ok());
  EXPECT_FALSE(Expand("${}", vars).ok());
  EXPECT_FALSE(Expand("'open", vars).ok());
  Result<std::string> bad = Expand("${A#x}", vars);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("unsupported substitution ${A#...}"), std::string::npos)
      << bad.error().message();

  Result<std::vector<std::string>> words = ExpandWords("  $A \"two words\" '${A}' ${P}/sh  ", vars);
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(*words, (std::vector<std::string>{"x", "two words", "${A}", "/usr/bin/sh"}));
}

}  // namespace
}  // namespace cloudlet::image
