/* An application written against rtmp2sink, in plain C with the GStreamer API only: it must
 * run unchanged with rtmppushsink. dropin_test runs it once per element against nginx-rtmp.
 *
 *   dropin_app ELEMENT rtmp://127.0.0.1:PORT/live KEY
 *
 * 1. Builds videotestsrc ! x264enc ! flvmux streamable=true ! ELEMENT by hand: sets rtmp2sink
 *    properties (strings, ints, the enum and flags by value and by nick, base sink booleans
 *    and times), links flvmux to the element's static "sink" pad, plays 60 frames to EOS and
 *    reads "stats" (out-bytes-total, out-chunk-size).
 * 2. A refusal: while a first pipeline publishes KEY-busy, a second one to the same key must
 *    post a RESOURCE error on the bus (nginx answers NetStream.Publish.BadName), within 20 s.
 * Exit status 0 when everything held, 1 with a message on stderr otherwise. */
#include <gst/gst.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...)                              \
  do {                                                \
    if (!(cond)) {                                    \
      fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                   \
      fprintf(stderr, "\n");                          \
      failures++;                                     \
    }                                                 \
  } while (0)

typedef struct {
  GstElement* pipeline;
  GstElement* sink;
} Publish;

/* videotestsrc ! x264enc ! flvmux ! ELEMENT, linked pad by pad. */
static gboolean make_publish(Publish* p, const char* element, const char* location, gboolean live,
                             int frames) {
  GstElement *src, *enc, *mux;
  GstPad *mux_src, *sink_pad;
  p->pipeline = gst_pipeline_new(NULL);
  src = gst_element_factory_make("videotestsrc", NULL);
  enc = gst_element_factory_make("x264enc", NULL);
  mux = gst_element_factory_make("flvmux", NULL);
  p->sink = gst_element_factory_make(element, NULL);
  if (!src || !enc || !mux || !p->sink) {
    fprintf(stderr, "cannot make the elements (%s)\n", element);
    return FALSE;
  }
  g_object_set(src, "num-buffers", frames, "is-live", live, NULL);
  gst_util_set_object_arg(G_OBJECT(enc), "tune", "zerolatency");
  g_object_set(enc, "key-int-max", 30, NULL);
  g_object_set(mux, "streamable", TRUE, NULL);
  /* rtmp2sink's own properties, as an application sets them. */
  g_object_set(p->sink, "location", location, "timeout", 10u, "async-connect", TRUE, "chunk-size",
               8192u, "peak-kbps", 0u, NULL);
  gst_util_set_object_arg(G_OBJECT(p->sink), "tls-validation-flags", "validate-all");
  g_object_set(p->sink, "scheme", 0 /* rtmp, by value */, NULL);
  gst_util_set_object_arg(G_OBJECT(p->sink), "stop-commands", "fcunpublish+deletestream");
  gst_util_set_object_arg(G_OBJECT(p->sink), "authmod", "auto");
  /* GstBaseSink's. */
  g_object_set(p->sink, "sync", FALSE, "async", TRUE, "qos", FALSE, "max-lateness", (gint64)-1,
               "ts-offset", (gint64)0, "enable-last-sample", TRUE, NULL);
  gst_bin_add_many(GST_BIN(p->pipeline), src, enc, mux, p->sink, NULL);
  if (!gst_element_link_many(src, enc, mux, NULL)) return FALSE;
  mux_src = gst_element_get_static_pad(mux, "src");
  sink_pad = gst_element_get_static_pad(p->sink, "sink");
  CHECK(sink_pad != NULL, "%s has no static \"sink\" pad", element);
  if (!sink_pad) return FALSE;
  CHECK(gst_pad_link(mux_src, sink_pad) == GST_PAD_LINK_OK, "flvmux does not link to sink");
  gst_object_unref(mux_src);
  gst_object_unref(sink_pad);
  return TRUE;
}

static void free_publish(Publish* p) {
  if (!p->pipeline) return;
  gst_element_set_state(p->pipeline, GST_STATE_NULL);
  gst_object_unref(p->pipeline);
  p->pipeline = NULL;
}

/* Waits for EOS or an error; returns the message (unref it) or NULL on timeout. */
static GstMessage* wait_end(GstElement* pipeline, GstClockTime timeout) {
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, timeout, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  return m;
}

static void publish_to_eos(const char* element, const char* base, const char* key) {
  Publish p = {NULL, NULL};
  gchar* location = g_strdup_printf("%s/%s", base, key);
  GstMessage* m;
  GstStructure* stats = NULL;
  guint64 out_bytes = 0;
  guint out_chunk = 0;
  gchar* read_back = NULL;
  if (!make_publish(&p, element, location, FALSE, 60)) {
    failures++;
    g_free(location);
    free_publish(&p);
    return;
  }
  g_object_get(p.sink, "location", &read_back, NULL);
  CHECK(read_back && strstr(read_back, key), "location reads back as %s", read_back);
  g_free(read_back);
  CHECK(gst_element_set_state(p.pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE,
        "PLAYING failed");
  m = wait_end(p.pipeline, 60 * GST_SECOND);
  CHECK(m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS, "no EOS within 60 s");
  if (m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    GError* err = NULL;
    gst_message_parse_error(m, &err, NULL);
    fprintf(stderr, "error: %s\n", err->message);
    g_error_free(err);
  }
  if (m) gst_message_unref(m);
  g_object_get(p.sink, "stats", &stats, NULL);
  CHECK(stats != NULL, "no stats");
  if (stats) {
    CHECK(gst_structure_get_uint64(stats, "out-bytes-total", &out_bytes),
          "stats without out-bytes-total (guint64)");
    CHECK(out_bytes > 10000, "out-bytes-total %" G_GUINT64_FORMAT, out_bytes);
    if (gst_structure_get_uint(stats, "out-chunk-size", &out_chunk) && out_chunk != 0) {
      CHECK(out_chunk == 8192, "out-chunk-size %u", out_chunk);
    }
    gst_structure_free(stats);
  }
  free_publish(&p);
  g_free(location);
}

static void refused_when_busy(const char* element, const char* base, const char* key) {
  Publish first = {NULL, NULL}, second = {NULL, NULL};
  gchar* location = g_strdup_printf("%s/%s-busy", base, key);
  GstMessage* m;
  GstStructure* stats = NULL;
  guint64 out_bytes = 0;
  int i;
  if (!make_publish(&first, element, location, TRUE, -1) ||
      !make_publish(&second, element, location, TRUE, -1)) {
    failures++;
    goto out;
  }
  gst_element_set_state(first.pipeline, GST_STATE_PLAYING);
  /* Until the first one publishes (its stats count bytes), bounded. */
  for (i = 0; i < 100 && out_bytes == 0; i++) {
    m = wait_end(first.pipeline, 100 * GST_MSECOND);
    if (m) {
      fprintf(stderr, "the first publish ended early\n");
      gst_message_unref(m);
      failures++;
      goto out;
    }
    g_object_get(first.sink, "stats", &stats, NULL);
    if (stats) {
      gst_structure_get_uint64(stats, "out-bytes-total", &out_bytes);
      gst_structure_free(stats);
    }
  }
  CHECK(out_bytes > 0, "the first publish never sent anything");
  gst_element_set_state(second.pipeline, GST_STATE_PLAYING);
  m = wait_end(second.pipeline, 20 * GST_SECOND);
  CHECK(m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR,
        "no error for a busy stream key (%s from %s)", m ? GST_MESSAGE_TYPE_NAME(m) : "timeout",
        m ? GST_OBJECT_NAME(GST_MESSAGE_SRC(m)) : "-");
  if (m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    GError* err = NULL;
    gst_message_parse_error(m, &err, NULL);
    CHECK(err->domain == GST_RESOURCE_ERROR, "error domain %s", g_quark_to_string(err->domain));
    printf("%s refused: %s %d: %s\n", element, g_quark_to_string(err->domain), err->code,
           err->message);
    g_error_free(err);
  }
  if (m) gst_message_unref(m);
out:
  free_publish(&second);
  free_publish(&first);
  g_free(location);
}

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  if (argc != 4) {
    fprintf(stderr, "usage: %s ELEMENT rtmp://host:port/app KEY\n", argv[0]);
    return 2;
  }
  publish_to_eos(argv[1], argv[2], argv[3]);
  refused_when_busy(argv[1], argv[2], argv[3]);
  printf("%s: %d failure(s)\n", argv[1], failures);
  return failures == 0 ? 0 : 1;
}
