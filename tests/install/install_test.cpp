// `meson install` into a DESTDIR, then the two ways the installed files are used:
// - an application builds against the protocol library with pkg-config (ertmp.pc, headers,
//   libertmp.so.0) and runs;
// - GStreamer finds the plugin on its own system path layout re-rooted at the DESTDIR
//   (GST_PLUGIN_SYSTEM_PATH_1_0 = DESTDIR + the installed pluginsdir, GST_PLUGIN_PATH unset,
//   a private registry), as it finds /usr/lib/<triplet>/gstreamer-1.0 after
//   `meson setup --prefix=/usr`.
// The build directory's settings (prefix, libdir, plugin directory, compiler) come from
// tests/install/meson.build through the environment.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "tests/interop/rtmp_peers.h"

namespace fs = std::filesystem;
using ertmp_test::have_program;

namespace {

struct Ran {
  int status = -1;  // exit status, or 128 + signal
  std::string out;  // stdout and stderr
};

// Runs `command` with /bin/sh, stderr folded into stdout.
Ran run(const std::string& command) {
  Ran r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// DESTDIR + an absolute install path.
fs::path under(const fs::path& destdir, const std::string& abs) {
  return destdir / fs::path(abs).relative_path();
}

class Install : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (env("ERTMP_MESON").empty() || !have_program(env("ERTMP_MESON"))) return;
    destdir_ = new fs::path(ertmp_test::make_temp_dir("install"));
    // --no-rebuild: meson test has built everything, and a nested ninja would fight its lock.
    Ran r = run(quote(env("ERTMP_MESON")) + " install -C " + quote(env("ERTMP_BUILD_ROOT")) +
                " --no-rebuild --quiet --destdir " + quote(destdir_->string()));
    install_status_ = r.status;
    install_log_ = new std::string(r.out);
  }
  static void TearDownTestSuite() {
    if (destdir_) {
      std::error_code ec;
      fs::remove_all(*destdir_, ec);
    }
    delete destdir_;
    delete install_log_;
    destdir_ = nullptr;
    install_log_ = nullptr;
  }
  void SetUp() override {
    ERTMP_REQUIRE(destdir_, "meson (Debian package meson)");
    ASSERT_EQ(install_status_, 0) << "meson install failed:\n" << *install_log_;
  }

  static fs::path* destdir_;
  static int install_status_;
  static std::string* install_log_;
};
fs::path* Install::destdir_ = nullptr;
int Install::install_status_ = -1;
std::string* Install::install_log_ = nullptr;

TEST_F(Install, ProtocolLibraryBuildsAndRunsThroughPkgConfig) {
  ERTMP_REQUIRE(have_program("pkg-config"), "pkg-config (Debian package pkg-config)");
  ERTMP_REQUIRE(have_program("readelf"), "readelf (Debian package binutils)");
  const fs::path& d = *destdir_;
  const fs::path libdir = under(d, env("ERTMP_LIBDIR"));
  const fs::path pcdir = libdir / "pkgconfig";
  ASSERT_TRUE(fs::exists(pcdir / "ertmp.pc")) << pcdir;

  // The versioned library and its soname link; the soname is what programs record.
  EXPECT_TRUE(fs::is_symlink(libdir / "libertmp.so"));
  EXPECT_TRUE(fs::is_symlink(libdir / "libertmp.so.0"));
  EXPECT_TRUE(fs::is_regular_file(fs::canonical(libdir / "libertmp.so.0")));
  Ran soname = run("readelf -d " + quote((libdir / "libertmp.so.0").string()));
  EXPECT_NE(soname.out.find("Library soname: [libertmp.so.0]"), std::string::npos) << soname.out;
  EXPECT_EQ(soname.out.find("glib"), std::string::npos) << "the protocol library links GLib";

  // Every header of protocol/ is installed, under ertmp/protocol/.
  const fs::path incdir = under(d, env("ERTMP_INCLUDEDIR")) / "ertmp" / "protocol";
  std::set<std::string> source_headers, installed_headers;
  for (const auto& e : fs::directory_iterator(fs::path(env("ERTMP_SOURCE_ROOT")) / "protocol"))
    if (e.path().extension() == ".h") source_headers.insert(e.path().filename().string());
  for (const auto& e : fs::directory_iterator(incdir))
    installed_headers.insert(e.path().filename().string());
  EXPECT_EQ(installed_headers, source_headers);

  // pkg-config sees only the DESTDIR (PKG_CONFIG_LIBDIR replaces the system path), with the
  // DESTDIR as sysroot so the prefix-relative -I/-L land inside it.
  const std::string pc_env = "PKG_CONFIG_LIBDIR=" + quote(pcdir.string()) +
                             " PKG_CONFIG_PATH= PKG_CONFIG_SYSROOT_DIR=" + quote(d.string()) + " ";
  Ran deps = run(pc_env + "pkg-config --print-requires --print-requires-private ertmp");
  EXPECT_EQ(deps.status, 0) << deps.out;
  EXPECT_EQ(deps.out, "") << "ertmp.pc must require nothing (no GLib)";
  Ran flags = run(pc_env + "pkg-config --cflags --libs ertmp");
  ASSERT_EQ(flags.status, 0) << flags.out;
  EXPECT_NE(flags.out.find("-I" + (d / "").string()), std::string::npos) << flags.out;
  EXPECT_NE(flags.out.find("-lertmp"), std::string::npos) << flags.out;
  EXPECT_EQ(flags.out.find("glib"), std::string::npos) << flags.out;
  while (!flags.out.empty() && flags.out.back() == '\n') flags.out.pop_back();

  const std::string cxx = env("ERTMP_CXX");
  // Each installed header compiles on its own: none needs a header that was not installed.
  {
    std::ofstream tu(d / "all_headers.cpp");
    for (const auto& h : installed_headers) tu << "#include \"protocol/" << h << "\"\n";
  }
  Ran headers = run(cxx + " -std=c++20 -fsyntax-only " + flags.out + " " +
                    quote((d / "all_headers.cpp").string()));
  EXPECT_EQ(headers.status, 0) << headers.out;

  const fs::path exe = d / "consumer";
  Ran build =
      run(cxx + " -std=c++20 -o " + quote(exe.string()) + " " +
          quote(env("ERTMP_SOURCE_ROOT") + "/tests/install/consumer.cpp") + " " + flags.out);
  ASSERT_EQ(build.status, 0) << build.out;
  Ran needed = run("readelf -d " + quote(exe.string()));
  EXPECT_NE(needed.out.find("Shared library: [libertmp.so.0]"), std::string::npos)
      << "the program did not link the shared library:\n"
      << needed.out;

  Ran ran = run("LD_LIBRARY_PATH=" + quote(libdir.string()) + " " + quote(exe.string()));
  EXPECT_EQ(ran.status, 0) << ran.out;
  EXPECT_NE(ran.out.find("connect app=live round-trip ok"), std::string::npos) << ran.out;
  // Without the DESTDIR's library the program cannot start: it really uses the shared one.
  Ran without = run("env -u LD_LIBRARY_PATH " + quote(exe.string()));
  if (!fs::exists(fs::path(env("ERTMP_LIBDIR")) / "libertmp.so.0")) {
    EXPECT_NE(without.status, 0) << without.out;
  }
}

TEST_F(Install, PluginIsFoundOnGStreamersSystemPathUnderTheDestdir) {
  ERTMP_REQUIRE(have_program("gst-inspect-1.0"),
                "gst-inspect-1.0 (Debian package gstreamer1.0-tools)");
  ERTMP_REQUIRE(have_program("pkg-config"), "pkg-config (Debian package pkg-config)");
  const fs::path& d = *destdir_;
  const std::string plugindir = env("ERTMP_PLUGINDIR");

  // Unless -Dplugindir chose another place, the plugin goes to GStreamer's pluginsdir re-based
  // on our prefix: GStreamer's own directory when the prefixes agree (Debian: --prefix=/usr).
  if (env("ERTMP_PLUGINDIR_OPTION").empty()) {
    Ran gst_dir = run("pkg-config --variable=pluginsdir gstreamer-1.0");
    Ran gst_prefix = run("pkg-config --variable=prefix gstreamer-1.0");
    ASSERT_EQ(gst_dir.status, 0);
    auto trim = [](std::string s) {
      while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
      return s;
    };
    std::string gdir = trim(gst_dir.out), gprefix = trim(gst_prefix.out);
    ASSERT_EQ(gdir.rfind(gprefix + "/", 0), 0u) << gdir << " is not under " << gprefix;
    EXPECT_EQ(plugindir, env("ERTMP_PREFIX") + gdir.substr(gprefix.size()));
    if (env("ERTMP_PREFIX") == gprefix) {
      EXPECT_EQ(plugindir, gdir);
    }
  }
  const fs::path installed = under(d, plugindir);
  ASSERT_TRUE(fs::exists(installed / "libgstertmp.so")) << installed;

  // GStreamer's system path only: GST_PLUGIN_PATH unset, a registry of our own.
  auto inspect = [&](const fs::path& system_path, const std::string& element) {
    return run("env -u GST_PLUGIN_PATH -u GST_PLUGIN_PATH_1_0 GST_PLUGIN_SYSTEM_PATH_1_0=" +
               quote(system_path.string()) + " GST_REGISTRY_1_0=" +
               quote((d / ("registry-" + system_path.filename().string() + ".bin")).string()) +
               " gst-inspect-1.0 " + element);
  };
  for (const char* element : {"rtmpingestsrc", "rtmppushsink"}) {
    Ran r = inspect(installed, element);
    EXPECT_EQ(r.status, 0) << element << ":\n" << r.out;
    EXPECT_NE(r.out.find((installed / "libgstertmp.so").string()), std::string::npos)
        << element << " was not loaded from the DESTDIR:\n"
        << r.out;
  }
  // Control: an empty system path finds neither element, so the plugin above came from the
  // DESTDIR and not from a copy GStreamer would find by itself.
  const fs::path empty = d / "empty-plugins";
  fs::create_directories(empty);
  Ran none = inspect(empty, "rtmpingestsrc");
  EXPECT_NE(none.status, 0) << none.out;
}

}  // namespace
