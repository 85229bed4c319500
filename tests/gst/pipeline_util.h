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
#include "tests/interop/rtmp_peers.h"

namespace ertmp_test {

// Whether every element factory named is installed (a test's ERTMP_REQUIRE condition).
inline bool have_elements(const std::vector<const char*>& names) {
  for (const char* n : names) {
    GstElementFactory* f = gst_element_factory_find(n);
    if (!f) return false;
    gst_object_unref(f);
  }
  return true;
}

struct Collected {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> md5s;  // pad/sink name -> buffer MD5s
  std::map<std::string, std::string> caps;               // first caps seen
  std::map<std::string, std::vector<GstClockTime>> dts;
  std::map<std::string, std::vector<GstClockTime>> pts;
  std::map<std::string, std::vector<bool>> keyframes;  // !DELTA_UNIT per buffer
  std::map<std::string, int> delta_units;
  std::map<std::string, int> disconts;
  // Every caps change seen by a sink: (buffers before it, caps).
  std::map<std::string, std::vector<std::pair<size_t, std::string>>> caps_changes;
  std::map<std::string, int> eos_events;  // appsinks made by link_to_appsink only
  std::map<std::string, size_t> buffers_before_eos;

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
  c->pts[name].push_back(GST_BUFFER_PTS(buf));
  bool delta = GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  c->keyframes[name].push_back(!delta);
  if (delta) c->delta_units[name]++;
  if (GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DISCONT)) c->disconts[name]++;
  if (caps) {
    gchar* s = gst_caps_to_string(caps);
    if (c->caps[name].empty()) c->caps[name] = s;
    auto& changes = c->caps_changes[name];
    if (changes.empty() || changes.back().second != s) {
      changes.emplace_back(c->md5s[name].size() - 1, s);
    }
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
  // Counts EOS events, and the buffers the sink had rendered when one came.
  gst_pad_add_probe(
      sinkpad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      +[](GstPad* p, GstPadProbeInfo* info, gpointer d) -> GstPadProbeReturn {
        if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS) {
          auto* col = static_cast<Collected*>(d);
          GstObject* owner = gst_pad_get_parent(p);
          std::string sink_name = GST_OBJECT_NAME(owner);
          gst_object_unref(owner);
          std::lock_guard<std::mutex> lock(col->mu);
          col->eos_events[sink_name]++;
          col->buffers_before_eos[sink_name] = col->md5s[sink_name].size();
        }
        return GST_PAD_PROBE_OK;
      },
      c, nullptr);
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

// ffmpeg's per-packet MD5s (framemd5) of one stream of a file.
inline std::vector<std::string> framemd5s(const std::filesystem::path& file, int stream_index) {
  return framemd5_lines(file, "$6", "$1==" + std::to_string(stream_index));
}

// Waits (bounded) for an element message named `name` whose string `field` contains `text`;
// other messages popped on the way are dropped.
inline bool wait_element_message(GstElement* pipeline, const std::string& name, const char* field,
                                 const std::string& text, int timeout_ms) {
  GstBus* bus = gst_element_get_bus(pipeline);
  GstClockTime deadline = gst_util_get_timestamp() + timeout_ms * GST_MSECOND;
  bool found = false;
  while (!found && gst_util_get_timestamp() < deadline) {
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 50 * GST_MSECOND, GST_MESSAGE_ELEMENT);
    if (!m) continue;
    const GstStructure* st = gst_message_get_structure(m);
    if (st && gst_structure_has_name(st, name.c_str())) {
      const gchar* t = gst_structure_get_string(st, field);
      found = t && std::string(t).find(text) != std::string::npos;
    }
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return found;
}

// Waits (bounded) for EOS or an error on the bus; returns the type seen (UNKNOWN on timeout).
// Element messages: their names go to `names`, their whole structures as text to `details`.
// An error is a test failure unless `error_text` is given, which then gets its text.
inline GstMessageType wait_bus_full(GstElement* pipeline, GstClockTime timeout,
                                    std::vector<std::string>* names,
                                    std::vector<std::string>* details, std::string* error_text) {
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessageType seen = GST_MESSAGE_UNKNOWN;
  GstClockTime deadline = gst_util_get_timestamp() + timeout;
  while (gst_util_get_timestamp() < deadline) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, 100 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT));
    if (!msg) continue;
    GstMessageType t = GST_MESSAGE_TYPE(msg);
    if (t == GST_MESSAGE_ELEMENT && names) {
      names->push_back(gst_structure_get_name(gst_message_get_structure(msg)));
    }
    if (t == GST_MESSAGE_ELEMENT && details) {
      gchar* text = gst_structure_to_string(gst_message_get_structure(msg));
      details->push_back(text);
      g_free(text);
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

inline GstMessageType wait_bus(GstElement* pipeline, GstClockTime timeout,
                               std::vector<std::string>* names = nullptr,
                               std::vector<std::string>* details = nullptr) {
  return wait_bus_full(pipeline, timeout, names, details, nullptr);
}
inline GstMessageType wait_bus(GstElement* pipeline, GstClockTime timeout,
                               std::vector<std::string>* names, std::string* error_text) {
  return wait_bus_full(pipeline, timeout, names, nullptr, error_text);
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
