#include "oci/image_spec.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>

namespace cloudlet::oci {
namespace {

std::string H(char c) { return std::string(64, c); }
std::string D(char c) { return "sha256:" + H(c); }

// As `docker manifest inspect --verbose` / a registry serves busybox: a Docker manifest list.
const std::string kDockerManifestList = R"({
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
   "manifests": [
      {
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "size": 528,
         "digest": ")" + D('1') + R"(",
         "platform": {"architecture": "amd64", "os": "linux"}
      },
      {
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "size": 528,
         "digest": ")" + D('2') + R"(",
         "platform": {"architecture": "arm", "os": "linux", "variant": "v5"}
      },
      {
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "size": 528,
         "digest": ")" + D('3') + R"(",
         "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}
      },
      {
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "size": 528,
         "digest": ")" + D('4') + R"(",
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}
      },
      {
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "size": 527,
         "digest": ")" + D('5') + R"(",
         "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5206"}
      }
   ]
})";

const std::string kDockerManifest = R"({
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1457,
      "digest": ")" + D('c') + R"("
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 2591575,
         "digest": ")" + D('a') + R"("
      }
   ]
})";

// As `docker inspect`-era Docker writes configs: extra members, nulls, container_config.
const std::string kDockerConfig = R"({"architecture":"amd64","config":{"Hostname":"","Domainname":"","User":"",
"AttachStdin":false,"ExposedPorts":{"8080/tcp":{}},"Tty":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
"Cmd":["sh"],"Image":"sha256:abc","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null},
"container":"0b5f2cc0a6a3c3a8","container_config":{"Hostname":"0b5f2cc0a6a3","Cmd":["/bin/sh","-c","#(nop) ","CMD [\"sh\"]"]},
"created":"2023-07-18T23:19:33.655005962Z","docker_version":"20.10.23",
"history":[{"created":"2023-07-18T23:19:33.538571854Z","created_by":"/bin/sh -c #(nop) ADD file:7e9002edaafd4e457 in / "},
{"created":"2023-07-18T23:19:33.655005962Z","created_by":"/bin/sh -c #(nop)  CMD [\"sh\"]","empty_layer":true}],
"os":"linux","rootfs":{"type":"layers","diff_ids":[")" +
                                  D('d') + R"("]}})";

// As skopeo copies into an OCI layout / buildah commits: OCI manifest with annotations.
const std::string kOciManifest = R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": ")" + D('c') + R"(",
    "size": 1024
  },
  "layers": [
    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ")" +
                                 D('a') + R"(", "size": 32654},
    {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": ")" +
                                 D('b') + R"(", "size": 16724,
     "annotations": {"org.opencontainers.image.title": "layer2"}}
  ],
  "annotations": {"org.opencontainers.image.created": "2024-01-02T15:04:05Z"}
})";

const std::string kOciConfig = R"({
  "created": "2024-01-02T15:04:05.123+01:00",
  "author": "cloudlet",
  "architecture": "arm64",
  "variant": "v8",
  "os": "linux",
  "config": {
    "User": "1000:1000",
    "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "9000": {}},
    "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "EMPTY="],
    "Entrypoint": ["/entrypoint.sh"],
    "Cmd": [],
    "Volumes": {"/data": {}},
    "WorkingDir": "/srv",
    "Labels": {"org.opencontainers.image.version": "1.0", "b": ""},
    "StopSignal": "SIGTERM"
  },
  "rootfs": {"type": "layers", "diff_ids": [")" +
                               D('e') + R"(", ")" + D('f') + R"("]},
  "history": [
    {"created": "2024-01-02T15:04:05Z", "created_by": "ADD rootfs.tar /", "comment": "base"},
    {"created_by": "ENV LANG=C.UTF-8", "empty_layer": true},
    {"created_by": "COPY app /srv", "author": "me"}
  ]
})";

TEST(ImageSpecTest, DockerManifestListAccepted) {
  Result<Index> idx = ParseIndex(kDockerManifestList);
  ASSERT_TRUE(idx.ok()) << idx.error().message();
  EXPECT_EQ(idx->media_type, kMediaTypeDockerManifestList);
  ASSERT_EQ(idx->manifests.size(), 5u);
  EXPECT_EQ(idx->manifests[2].platform->variant, "v7");
  EXPECT_EQ(idx->manifests[4].platform->os_version, "10.0.17763.5206");
  EXPECT_EQ(idx->manifests[1].size, 528);
  EXPECT_TRUE(IsManifestMediaType(idx->manifests[0].media_type));
}

TEST(ImageSpecTest, DockerManifestAndConfigAccepted) {
  Result<Manifest> m = ParseManifest(kDockerManifest);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->media_type, kMediaTypeDockerManifest);
  EXPECT_EQ(m->config.media_type, kMediaTypeDockerConfig);
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].size, 2591575);
  EXPECT_TRUE(CheckImageManifest(*m).ok());

  Result<ImageConfig> c = ParseImageConfig(kDockerConfig);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->architecture, "amd64");
  EXPECT_EQ(c->os, "linux");
  EXPECT_EQ(c->config.cmd, std::vector<std::string>{"sh"});
  EXPECT_FALSE(c->config.entrypoint.has_value());  // null
  EXPECT_TRUE(c->config.volumes.empty());
  EXPECT_EQ(c->config.exposed_ports, std::set<std::string>{"8080/tcp"});
  ASSERT_EQ(c->history.size(), 2u);
  EXPECT_TRUE(c->history[1].empty_layer);
  EXPECT_TRUE(CheckConfigMatchesManifest(*c, *m).ok());
}

TEST(ImageSpecTest, OciRoundTrips) {
  Result<Manifest> m = ParseManifest(kOciManifest);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->layers[1].annotations.at("org.opencontainers.image.title"), "layer2");
  const std::string ms = Serialize(*m);
  Result<Manifest> m2 = ParseManifest(ms);
  ASSERT_TRUE(m2.ok()) << m2.error().message();
  EXPECT_EQ(*m2, *m);
  EXPECT_EQ(Serialize(*m2), ms);

  Result<ImageConfig> c = ParseImageConfig(kOciConfig);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->config.user, "1000:1000");
  ASSERT_TRUE(c->config.cmd.has_value());
  EXPECT_TRUE(c->config.cmd->empty());  // explicitly reset, not absent
  EXPECT_EQ(c->config.labels.at("b"), "");
  EXPECT_EQ(c->diff_ids.size(), 2u);
  const std::string cs = Serialize(*c);
  Result<ImageConfig> c2 = ParseImageConfig(cs);
  ASSERT_TRUE(c2.ok()) << c2.error().message() << "\n" << cs;
  EXPECT_EQ(*c2, *c);
  EXPECT_EQ(Serialize(*c2), cs);
  EXPECT_TRUE(CheckConfigMatchesManifest(*c, *m).ok());

  Result<Index> i = ParseIndex(kDockerManifestList);
  ASSERT_TRUE(i.ok());
  const std::string is = Serialize(*i);
  Result<Index> i2 = ParseIndex(is);
  ASSERT_TRUE(i2.ok()) << i2.error().message();
  EXPECT_EQ(*i2, *i);
  EXPECT_EQ(Serialize(*i2), is);
}

TEST(ImageSpecTest, SerializationIsCanonical) {
  // Built twice, in a different order of insertion: the same bytes, so the same digest.
  auto build = [](bool reverse) {
    Manifest m;
    m.config = DescribeBlob(kMediaTypeImageConfig, "{}");
    m.layers.push_back(DescribeBlob(kMediaTypeImageLayerGzip, "layer"));
    if (reverse) {
      m.annotations["z"] = "1";
      m.annotations["a"] = "2";
    } else {
      m.annotations["a"] = "2";
      m.annotations["z"] = "1";
    }
    return Serialize(m);
  };
  const std::string a = build(false);
  EXPECT_EQ(a, build(true));
  EXPECT_EQ(Digest::Sha256Of(a), Digest::Sha256Of(build(true)));
  EXPECT_EQ(a.find(' '), std::string::npos);
  EXPECT_EQ(a.find('\n'), std::string::npos);
  // Keys sorted bytewise; mediaType written for manifests cloudlet builds.
  EXPECT_EQ(a.substr(0, 16), R"({"annotations":{)");
  EXPECT_NE(a.find(R"("mediaType":"application/vnd.oci.image.manifest.v1+json")"), std::string::npos);
  EXPECT_NE(a.find(R"("schemaVersion":2)"), std::string::npos);

  ImageConfig c;
  c.architecture = "amd64";
  c.os = "linux";
  EXPECT_EQ(Serialize(c), R"({"architecture":"amd64","os":"linux","rootfs":{"diff_ids":[],"type":"layers"}})");
}

TEST(ImageSpecTest, ParsedMatchesHandBuilt) {
  Manifest m;
  m.config.media_type = kMediaTypeImageConfig;
  m.config.digest = *Digest::Parse(D('c'));
  m.config.size = 1024;
  Descriptor l1{kMediaTypeImageLayerGzip, *Digest::Parse(D('a')), 32654, {}, {}, std::nullopt, ""};
  Descriptor l2{kMediaTypeImageLayerZstd, *Digest::Parse(D('b')), 16724, {}, {}, std::nullopt, ""};
  l2.annotations["org.opencontainers.image.title"] = "layer2";
  m.layers = {l1, l2};
  m.annotations[kAnnotationCreated] = "2024-01-02T15:04:05Z";
  Result<Manifest> parsed = ParseManifest(kOciManifest);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, m);
}

struct BadCase {
  const char* name;
  std::string json;
  std::string want;  // substring of the error
};

// Every case must fail to parse, with an error that contains `want`.
template <typename ParseFn, size_t N>
void ExpectAllRejected(const BadCase (&cases)[N], ParseFn parse) {
  for (const BadCase& c : cases) {
    auto r = parse(c.json);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_NE(r.error().message().find(c.want), std::string::npos)
        << c.name << ": got \"" << r.error().message() << "\", want \"" << c.want << "\"";
  }
}

TEST(ImageSpecTest, InvalidManifestsNamePath) {
  const std::string good_config =
      R"({"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + D('c') + R"(","size":2})";
  const BadCase cases[] = {
      {"not json", "{", "manifest: invalid JSON"},
      {"array", "[]", "manifest: expected a JSON object"},
      {"no schemaVersion", R"({"config":)" + good_config + R"(,"layers":[]})", "manifest: schemaVersion: required"},
      {"schema1", R"({"schemaVersion":1,"name":"x","fsLayers":[]})", "schemaVersion: 1 is Docker's schema1"},
      {"schema3", R"({"schemaVersion":3,"config":)" + good_config + R"(,"layers":[]})", "schemaVersion: 3"},
      {"schema string", R"({"schemaVersion":"2","config":)" + good_config + R"(,"layers":[]})",
       "schemaVersion: expected an integer"},
      {"index type",
       R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":)" + good_config +
           R"(,"layers":[]})",
       "mediaType: \"application/vnd.oci.image.index.v1+json\" is not an image manifest (it is an index)"},
      {"no config", R"({"schemaVersion":2,"layers":[]})", "manifest: config: required"},
      {"no layers", R"({"schemaVersion":2,"config":)" + good_config + "}", "manifest: layers: required"},
      {"bad digest",
       R"({"schemaVersion":2,"config":)" + good_config +
           R"(,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:ABC","size":1}]})",
       "manifest: layers[0].digest: invalid digest"},
      {"upper digest",
       R"({"schemaVersion":2,"config":)" + good_config +
           R"(,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:)" +
           std::string(64, 'A') + R"(","size":1}]})",
       "layers[0].digest: invalid digest"},
      {"negative size",
       R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + D('c') +
           R"(","size":-1},"layers":[]})",
       "manifest: config.size: must be >= 0"},
      {"float size",
       R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + D('c') +
           R"(","size":1.5},"layers":[]})",
       "config.size: expected an integer"},
      {"missing size",
       R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + D('c') +
           R"("},"layers":[]})",
       "config.size: required"},
      {"bad media type",
       R"({"schemaVersion":2,"config":)" + good_config + R"(,"layers":[{},{"mediaType":"not a type","digest":")" +
           D('a') + R"(","size":1}]})",
       "manifest: layers[0].mediaType: required"},
      {"bad media type 2",
       R"({"schemaVersion":2,"config":)" + good_config + R"(,"layers":[{"mediaType":"text","digest":")" + D('a') +
           R"(","size":1}]})",
       "manifest: layers[0].mediaType: invalid media type \"text\""},
      {"annotation not string",
       R"({"schemaVersion":2,"config":)" + good_config + R"(,"layers":[],"annotations":{"k":1}})",
       "manifest: annotations[\"k\"]: expected a string"},
      {"platform without os",
       R"({"schemaVersion":2,"config":)" + good_config + R"(,"layers":[],"subject":{"mediaType":"a/b","digest":")" +
           D('a') + R"(","size":1,"platform":{"architecture":"amd64"}}})",
       "manifest: subject.platform.os: required"},
  };
  ExpectAllRejected(cases, ParseManifest);
}

TEST(ImageSpecTest, InvalidIndexesAndConfigsNamePath) {
  Result<Index> idx = ParseIndex(R"({"schemaVersion":2,"manifests":[{"mediaType":"a/b","digest":")" + D('a') +
                                 R"(","size":1},{"mediaType":"a/b","digest":"sha256:1234","size":1}]})");
  ASSERT_FALSE(idx.ok());
  EXPECT_NE(idx.error().message().find("index: manifests[1].digest: invalid digest"), std::string::npos)
      << idx.error().message();
  idx = ParseIndex(kDockerManifest);
  ASSERT_FALSE(idx.ok());
  EXPECT_NE(idx.error().message().find("is not an image index (it is a manifest)"), std::string::npos);

  const BadCase cases[] = {
      {"no arch", R"({"os":"linux","rootfs":{"type":"layers","diff_ids":[]}})", "image config: architecture: required"},
      {"no rootfs", R"({"os":"linux","architecture":"amd64"})", "image config: rootfs: required"},
      {"rootfs type", R"({"os":"linux","architecture":"amd64","rootfs":{"type":"snapshot","diff_ids":[]}})",
       "image config: rootfs.type: \"snapshot\" is not supported"},
      {"diff id",
       R"({"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[")" + D('a') +
           R"(","sha256:x"]}})",
       "image config: rootfs.diff_ids[1]: invalid digest"},
      {"env",
       R"({"os":"linux","architecture":"amd64","config":{"Env":["A=1","B"]},"rootfs":{"type":"layers","diff_ids":[]}})",
       "image config: config.Env[1]: \"B\" is not of the form NAME=value"},
      {"port",
       R"({"os":"linux","architecture":"amd64","config":{"ExposedPorts":{"99999/tcp":{}}},"rootfs":{"type":"layers","diff_ids":[]}})",
       "image config: config.ExposedPorts[\"99999/tcp\"]"},
      {"cmd",
       R"({"os":"linux","architecture":"amd64","config":{"Cmd":["a",1]},"rootfs":{"type":"layers","diff_ids":[]}})",
       "image config: config.Cmd[1]: expected a string"},
      {"created",
       R"({"created":"yesterday","os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}})",
       "image config: created: \"yesterday\" is not an RFC 3339 time"},
      {"history",
       R"({"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]},"history":[{},{"empty_layer":"yes"}]})",
       "image config: history[1].empty_layer: expected a boolean"},
  };
  ExpectAllRejected(cases, ParseImageConfig);
}

TEST(ImageSpecTest, DiffIdsMustMatchLayers) {
  Result<Manifest> m = ParseManifest(kOciManifest);
  Result<ImageConfig> c = ParseImageConfig(kDockerConfig);  // one diff_id, the manifest has two layers
  ASSERT_TRUE(m.ok() && c.ok());
  Status st = CheckConfigMatchesManifest(*c, *m);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("rootfs.diff_ids has 1 entries but the manifest has 2 layers"), std::string::npos);
}

TEST(ImageSpecTest, ArtifactIsNotARunnableImage) {
  Manifest m;
  m.artifact_type = "application/vnd.example.sbom";
  m.config = DescribeBlob(kMediaTypeEmptyJson, "{}");
  m.layers.push_back(DescribeBlob("application/spdx+json", "{}"));
  Result<Manifest> parsed = ParseManifest(Serialize(m));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();  // a valid manifest ...
  EXPECT_EQ(*parsed, m);
  Status st = CheckImageManifest(*parsed);  // ... but not an image
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("config.mediaType"), std::string::npos);
  m.config = DescribeBlob(kMediaTypeImageConfig, "{}");
  st = CheckImageManifest(m);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("layers[0].mediaType"), std::string::npos);
}

TEST(ImageSpecTest, MediaTypes) {
  EXPECT_TRUE(IsValidMediaType(kMediaTypeImageLayerZstd));
  EXPECT_TRUE(IsValidMediaType(kMediaTypeDockerLayerGzip));
  EXPECT_FALSE(IsValidMediaType("application"));
  EXPECT_FALSE(IsValidMediaType("application/"));
  EXPECT_FALSE(IsValidMediaType("/json"));
  EXPECT_FALSE(IsValidMediaType("application/json; charset=utf-8"));
  EXPECT_TRUE(IsLayerMediaType(kMediaTypeDockerLayerGzip));
  EXPECT_TRUE(IsLayerMediaType(kMediaTypeImageLayer));
  EXPECT_FALSE(IsLayerMediaType(kMediaTypeImageConfig));
  EXPECT_TRUE(IsIndexMediaType(kMediaTypeDockerManifestList));
  EXPECT_TRUE(IsConfigMediaType(kMediaTypeDockerConfig));
  EXPECT_EQ(SniffMediaType(kDockerManifest), kMediaTypeDockerManifest);
  EXPECT_EQ(SniffMediaType(R"({"schemaVersion":2,"manifests":[]})"), kMediaTypeImageIndex);
  EXPECT_EQ(SniffMediaType(R"({"schemaVersion":2,"config":{},"layers":[]})"), kMediaTypeImageManifest);
  EXPECT_EQ(SniffMediaType("{}"), "");
  EXPECT_EQ(SniffMediaType("garbage"), "");
}

TEST(ImageSpecTest, PlatformSelection) {
  Result<Index> idx = ParseIndex(kDockerManifestList);
  ASSERT_TRUE(idx.ok());
  auto pick = [&](const std::string& platform) -> std::string {
    Result<Platform> p = ParsePlatform(platform);
    if (!p.ok()) return "bad platform";
    Result<Descriptor> d = SelectManifest(*idx, *p);
    return d.ok() ? std::string(1, d->digest.hex()[0]) : d.error().message();
  };
  EXPECT_EQ(pick("linux/amd64"), "1");
  EXPECT_EQ(pick("linux/x86_64"), "1");
  EXPECT_EQ(pick("linux/arm64"), "4");  // "v8" in the index is the arm64 baseline
  EXPECT_EQ(pick("linux/aarch64/v8"), "4");
  EXPECT_EQ(pick("linux/arm/v7"), "3");  // best of v5 and v7
  EXPECT_EQ(pick("linux/arm"), "3");     // arm defaults to v7
  EXPECT_EQ(pick("linux/arm/v6"), "2");  // only v5 runs on v6
  EXPECT_EQ(pick("windows/amd64"), "5");
  const std::string err = pick("linux/s390x");
  EXPECT_NE(err.find("no manifest for linux/s390x"), std::string::npos) << err;
  EXPECT_NE(err.find("linux/arm/v7"), std::string::npos) << err;

  // amd64 microarchitecture levels: a plain amd64 host does not get the v3 build.
  Index levels;
  Descriptor v3 = DescribeBlob(kMediaTypeImageManifest, "v3");
  v3.platform = Platform{"amd64", "linux", "", {}, "v3"};
  Descriptor v1 = DescribeBlob(kMediaTypeImageManifest, "v1");
  v1.platform = Platform{"amd64", "linux", "", {}, ""};
  levels.manifests = {v3, v1};
  Result<Descriptor> d = SelectManifest(levels, Platform{"amd64", "linux", "", {}, ""});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->digest, v1.digest);
  d = SelectManifest(levels, Platform{"amd64", "linux", "", {}, "v4"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->digest, v3.digest);

  EXPECT_FALSE(ParsePlatform("linux").ok());
  EXPECT_FALSE(ParsePlatform("linux//v7").ok());
  EXPECT_FALSE(ParsePlatform("linux/amd64/v1/x").ok());
  EXPECT_EQ(PlatformString(*ParsePlatform("linux/armhf")), "linux/arm/v7");
  EXPECT_EQ(HostPlatform().os, "linux");
  EXPECT_FALSE(HostPlatform().architecture.empty());
}

TEST(ImageSpecTest, TimestampsAccepted) {
  for (const char* t : {"2024-01-02T15:04:05Z", "0001-01-01T00:00:00Z", "2024-01-02T15:04:05.999999999Z",
                        "2024-01-02t15:04:05-07:00", "2016-12-31T23:59:60Z"}) {
    const std::string json = std::string(R"({"created":")") + t +
                             R"(","os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}})";
    EXPECT_TRUE(ParseImageConfig(json).ok()) << t;
  }
  for (const char* t : {"2024-01-02", "2024-13-02T15:04:05Z", "2024-01-02T15:04:05", "2024-01-02T15:04:05.Z",
                        "2024-01-02T15:04:05Z ", "2024-01-02T15:04:05+0100"}) {
    const std::string json = std::string(R"({"created":")") + t +
                             R"(","os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}})";
    EXPECT_FALSE(ParseImageConfig(json).ok()) << t;
  }
}

TEST(ImageSpecTest, OversizedRefused) {
  std::string big = R"({"schemaVersion":2,"annotations":{"a":")" + std::string(kMaxJsonDocumentSize, 'x') + "\"}}";
  Result<Manifest> m = ParseManifest(big);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("over the limit"), std::string::npos);
}

}  // namespace
}  // namespace cloudlet::oci
