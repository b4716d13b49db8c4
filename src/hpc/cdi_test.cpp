#include "ferry/hpc/cdi.hpp"

#include <gtest/gtest.h>

#include "ferry/core/error.hpp"

namespace ferry::hpc::cdi {

TEST(CdiNames, QualifiedNames) {
  auto q = parse_qualified_name("nvidia.com/gpu=0");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->vendor, "nvidia.com");
  EXPECT_EQ(q->cls, "gpu");
  EXPECT_EQ(q->name, "0");
  EXPECT_EQ(q->str(), "nvidia.com/gpu=0");
  EXPECT_TRUE(parse_qualified_name("foo.bar.baz/foo-bar123.B_az=GPU-1:2"));
  for (const char* bad : {"nvidia.com/gpu", "gpu=0", "nvidia.com/gpu/x=0", "nvidia.com/gpu=", "nvidia.com/=0",
                          "-v.com/gpu=0", "vendor.com/gpu=a/b", "vendor.com/gpu=-x"})
    EXPECT_FALSE(parse_qualified_name(bad)) << bad;
}

TEST(CdiSpec, Versions) {
  for (const char* v : {"0.3.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "0.8.12"}) EXPECT_TRUE(supported_version(v)) << v;
  for (const char* v : {"0.2.0", "0.9.0", "1.0.0", "0.8", "0.8.0-rc1", "", "0.x.0"})
    EXPECT_FALSE(supported_version(v)) << v;
}

TEST(CdiSpec, JsonAndYamlReadAlike) {
  const char* json = R"({"cdiVersion": "0.6.0", "kind": "vendor.com/dev",
    "devices": [{"name": "d0", "containerEdits": {"env": ["A=1"],
      "deviceNodes": [{"path": "/dev/d0", "hostPath": "/dev/null", "type": "c", "major": 1, "minor": 3,
                       "fileMode": 438, "permissions": "rw"}]}}],
    "containerEdits": {"mounts": [{"hostPath": "/h", "containerPath": "/c", "options": ["ro", "rbind"]}],
      "hooks": [{"hookName": "createContainer", "path": "/bin/true", "args": ["true", "x"], "timeout": 5}]}})";
  const char* yaml = R"(cdiVersion: "0.6.0"
kind: vendor.com/dev
devices:
  - name: d0
    containerEdits:
      env: [A=1]
      deviceNodes:
        - {path: /dev/d0, hostPath: /dev/null, type: c, major: 1, minor: 3, fileMode: 0666, permissions: rw}
containerEdits:
  mounts:
    - hostPath: /h
      containerPath: /c
      options: [ro, rbind]
  hooks:
    - hookName: createContainer
      path: /bin/true
      args: ["true", x]
      timeout: 5
)";
  for (auto [text, path] : {std::pair{json, "/s.json"}, std::pair{yaml, "/s.yaml"}}) {
    Spec s = parse_spec(text, path);
    EXPECT_EQ(s.kind, "vendor.com/dev");
    ASSERT_EQ(s.devices.size(), 1u);
    const auto& d = s.devices[0];
    EXPECT_EQ(d.edits.env, std::vector<std::string>{"A=1"});
    ASSERT_EQ(d.edits.device_nodes.size(), 1u);
    EXPECT_EQ(d.edits.device_nodes[0].host_path, "/dev/null");
    EXPECT_EQ(d.edits.device_nodes[0].file_mode, 0666u);
    ASSERT_EQ(s.edits.mounts.size(), 1u);
    EXPECT_EQ(s.edits.mounts[0].options, (std::vector<std::string>{"ro", "rbind"}));
    ASSERT_EQ(s.edits.hooks.size(), 1u);
    EXPECT_EQ(s.edits.hooks[0].args, (std::vector<std::string>{"true", "x"}));
    EXPECT_EQ(s.edits.hooks[0].timeout, 5);
  }
}

namespace {

void expect_error(const std::string& text, const std::string& path, const std::string& message) {
  try {
    parse_spec(text, path);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

}  // namespace

TEST(CdiSpec, ErrorsNameTheFileAndField) {
  expect_error("{", "/x.json", "CDI spec /x.json: not valid JSON");
  expect_error(R"({"cdiVersion": "0.9.0", "kind": "a.com/b", "devices": [{"name": "x"}]})", "/x.json",
               "CDI spec /x.json: unsupported cdiVersion '0.9.0' (ferry reads 0.3.0 to 0.8.x)");
  expect_error(R"({"cdiVersion": "0.5.0", "kind": "b", "devices": [{"name": "x"}]})", "/x.json",
               "CDI spec /x.json: kind 'b' is not vendor.com/class");
  expect_error(R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": []})", "/x.json",
               "CDI spec /x.json: 'devices' must list at least one device");
  expect_error(R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "x", "bogus": 1}]})", "/x.json",
               "CDI spec /x.json: devices[0]: unknown field 'bogus'");
  expect_error(R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "x",
      "containerEdits": {"deviceNodes": [{"hostPath": "/dev/null"}]}}]})", "/x.json",
               "CDI spec /x.json: devices[0].containerEdits.deviceNodes[0]: 'path' is required");
  expect_error(R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "x",
      "containerEdits": {"hooks": [{"hookName": "createContainer", "path": "rel"}]}}]})", "/x.json",
               "CDI spec /x.json: devices[0].containerEdits.hooks[0]: hook path 'rel' must be absolute");
  expect_error("cdiVersion: [\n", "/x.yaml", "CDI spec /x.yaml: not valid YAML: line 2: end of sequence flow not found");
  expect_error(R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "x"}, {"name": "x"}]})", "/x.json",
               "CDI spec /x.json: devices[1]: device 'x' is defined twice");
}

TEST(CdiResolve, UnknownDeviceAndKind) {
  std::vector<Spec> specs{parse_spec(R"({"cdiVersion": "0.5.0", "kind": "a.com/b",
      "devices": [{"name": "x"}, {"name": "y"}]})", "/d/a.json")};
  EXPECT_TRUE(has_kind(specs, "a.com/b"));
  try {
    resolve_devices(specs, {"a.com/b=z"}, {"/d"});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "CDI device a.com/b=z: no such device (the specs for a.com/b define x, y)");
  }
  EXPECT_THROW(resolve_devices(specs, {"c.com/d=x"}, {"/d"}), Error);
  EXPECT_THROW(resolve_devices(specs, {"not-a-name"}, {"/d"}), Error);
}

TEST(CdiResolve, AllMeansEveryDeviceOfTheKind) {
  std::vector<Spec> specs{parse_spec(R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [
      {"name": "x", "containerEdits": {"env": ["X=1"]}},
      {"name": "y", "containerEdits": {"env": ["Y=1"]}}]})", "/d/a.json")};
  EXPECT_EQ(resolve_devices(specs, {"a.com/b=all"}, {"/d"}).env, (std::vector<std::string>{"X=1", "Y=1"}));
}

TEST(CdiResolve, LaterDirectoryWinsSameDirectoryConflicts) {
  Spec a = parse_spec(R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "x",
      "containerEdits": {"env": ["FROM=a"]}}]})", "/1/a.json");
  Spec b = parse_spec(R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "x",
      "containerEdits": {"env": ["FROM=b"]}}]})", "/2/b.json");
  b.priority = 1;
  auto edits = resolve_devices({a, b}, {"a.com/b=x"}, {"/1", "/2"});
  EXPECT_EQ(edits.env, std::vector<std::string>{"FROM=b"});
  b.priority = 0;
  EXPECT_THROW(resolve_devices({a, b}, {"a.com/b=x"}, {"/1"}), Error);
}

}  // namespace ferry::hpc::cdi
