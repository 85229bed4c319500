// Pipeline helpers shared by the element tests: collect what leaves every pad of a source
// (buffer MD5s, caps, timestamps, flags) through appsinks, tap what enters a sink's pads, wait
// on the bus with a bound, count fds and threads.
#pragma once

#include <dirent.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "protocol/crypto.h"

namespace ertmp_test {

struct Collected {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> md5s;  // pad/sink name -> buffer MD5s
  std::map<std::string, std::string> caps;               // first caps seen
  std::map<std::string, std::vector<std::string>> all_caps;
  std::map<std::string, std::vector<GstClockTime>> dts;
  std::map<std::string, std::vector<bool>> keyframes;  // !DELTA_UNIT per buffer
  std::map<std::string, int> delta_units;

  size_t count(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu);
    return md5s[name].size();
  }
};

inline std::string buffer_md5(GstBuffer* buf) {
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_READ);
  std::string md5 = rtmp::to_hex(rtmp::md5(rtmp::Bytes(map.data, map.size)));
  gst_buffer_unmap(buf, &map);
  return md5;
}

inline void record_buffer(Collected* c, const std::string& name, GstBuffer* buf, GstCaps* caps) {
  std::string md5 = buffer_md5(buf);
  std::lock_guard<std::mutex> lock(c->mu);
  c->md5s[name].push_back(md5);
  c->dts[name].push_back(GST_BUFFER_DTS(buf));
  bool delta = GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  c->keyframes[name].push_back(!delta);
  if (delta) c->delta_units[name]++;
  if (caps) {
    gchar* s = gst_caps_to_string(caps);
    if (c->caps[name].empty()) c->caps[name] = s;
    if (c->all_caps[name].empty() || c->all_caps[name].back() != s) c->all_caps[name].push_back(s);
    g_free(s);
  }
}

inline GstFlowReturn on_sample(GstAppSink* sink, gpointer data) {
  GstSample* sample = gst_app_sink_pull_sample(sink);
  if (!sample) return GST_FLOW_ERROR;
  record_buffer(static_cast<Collected*>(data), GST_OBJECT_NAME(sink), gst_sample_get_buffer(sample),
                gst_sample_get_caps(sample));
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

// Links a new pad to an appsink named `prefix` + the pad's name.
inline void link_to_appsink(GstElement* src, GstPad* pad, Collected* c, const std::string& prefix) {
  GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(src));
  std::string name = prefix + GST_PAD_NAME(pad);
  GstElement* sink = gst_element_factory_make("appsink", name.c_str());
  g_object_set(sink, "emit-signals", TRUE, "sync", FALSE, nullptr);
  g_signal_connect(sink, "new-sample", G_CALLBACK(on_sample), c);
  gst_bin_add(GST_BIN(pipeline), sink);
  gst_element_sync_state_with_parent(sink);
  GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
  EXPECT_EQ(gst_pad_link(pad, sinkpad), GST_PAD_LINK_OK);
  gst_object_unref(sinkpad);
  gst_object_unref(pipeline);
}

// pad-added handler: every new pad to an appsink named after the pad.
inline void on_pad_added(GstElement* src, GstPad* pad, gpointer data) {
  link_to_appsink(src, pad, static_cast<Collected*>(data), "");
}

// Records every buffer entering `pad` under `name`, except HEADER-flagged audio buffers
// (opusenc/flacenc stream headers, carried by the sequence header instead). Video parsers
// flag keyframes with parameter sets HEADER too: those are frames and are recorded.
inline void tap_pad(GstPad* pad, Collected* c, const std::string& name) {
  struct Ctx {
    Collected* c;
    std::string name;
  };
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad* p, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
        auto* ctx = static_cast<Ctx*>(data);
        GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
        GstCaps* caps = gst_pad_get_current_caps(p);
        bool audio = caps && g_str_has_prefix(
                                 gst_structure_get_name(gst_caps_get_structure(caps, 0)), "audio/");
        if (audio && GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_HEADER)) {
          gst_caps_unref(caps);
          return GST_PAD_PROBE_OK;
        }
        record_buffer(ctx->c, ctx->name, buf, caps);
        if (caps) gst_caps_unref(caps);
        return GST_PAD_PROBE_OK;
      },
      new Ctx{c, name}, [](gpointer d) { delete static_cast<Ctx*>(d); });
}

// Waits (bounded) for EOS or an error on the bus; returns the type seen (UNKNOWN on timeout).
// Element-message names go to `element_messages`; the error text to `error_text` (an error
// is a test failure unless `error_text` is given).
inline GstMessageType wait_bus(GstElement* pipeline, GstClockTime timeout,
                               std::vector<std::string>* element_messages = nullptr,
                               std::string* error_text = nullptr) {
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessageType seen = GST_MESSAGE_UNKNOWN;
  GstClockTime deadline = gst_util_get_timestamp() + timeout;
  while (gst_util_get_timestamp() < deadline) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, 100 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT));
    if (!msg) continue;
    GstMessageType t = GST_MESSAGE_TYPE(msg);
    if (t == GST_MESSAGE_ELEMENT && element_messages) {
      element_messages->push_back(gst_structure_get_name(gst_message_get_structure(msg)));
    }
    if (t == GST_MESSAGE_ERROR) {
      GError* err = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(msg, &err, &dbg);
      if (error_text) {
        *error_text = std::string(err->message) + " | " + (dbg ? dbg : "");
      } else {
        ADD_FAILURE() << "bus error: " << err->message << " (" << (dbg ? dbg : "") << ")";
      }
      g_free(dbg);
      g_error_free(err);
    }
    gst_message_unref(msg);
    if (t == GST_MESSAGE_EOS || t == GST_MESSAGE_ERROR) {
      seen = t;
      break;
    }
  }
  gst_object_unref(bus);
  return seen;
}

inline int count_dir_entries(const char* path) {
  int n = 0;
  DIR* d = opendir(path);
  while (d && readdir(d)) ++n;
  if (d) closedir(d);
  return n;
}
inline int count_fds() {
  return count_dir_entries("/proc/self/fd");
}
inline int count_threads() {
  return count_dir_entries("/proc/self/task");
}

}  // namespace ertmp_test
