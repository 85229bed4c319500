/* An RTMP ingest service on rtmpingestsrc, in C: the same program as ingest_service.py (same
 * options, same JSON lines on stdout; read that file's docstring for how it uses the element).
 *
 *   ingest-service-c --keys keys.txt [--port 1935] [--address 0.0.0.0] [--app live]
 *                    [--out recordings] [--stats-interval 5]
 *
 * Build: cc ingest_service.c $(pkg-config --cflags --libs gstreamer-1.0) (meson builds it as
 * build/examples/ingest-service-c). Needs the gst-ertmp plugin (installed, or
 * GST_PLUGIN_PATH=<build>/gst) and matroskamux (gstreamer1.0-plugins-good). */
#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHUTDOWN_TIMEOUT_S 10
/* Each pad streams from, and is added from, its own thread: one track's data can reach the
 * muxer before the next track's pad exists. Every track of a publish is held (a blocking probe
 * after its queue) until no new pad came for this long, then all go through together; a
 * publisher sends every sequence header in its first messages. */
#define TRACKS_SETTLE_MS 500

typedef struct {
  const char *keys_path, *address, *app, *out;
  int port;
  double stats_interval;
  GMainLoop *loop;
  gboolean stopping;
  int exit_status;
  GPtrArray *pipelines; /* KeyPipeline* */
} Service;

typedef struct {
  Service *service;
  char *key;
  GstElement *pipeline, *src, *mux;
  GMutex lock;       /* pad-added runs on the pads' threads: guards the fields below */
  GPtrArray *branch; /* elements added for the current publish */
  GPtrArray *heads;  /* the pads the tracks enter: where EOS goes on shutdown */
  char *recording;   /* file of the current publish, NULL between publishes */
  gboolean finished; /* EOS reached the file */
  GPtrArray *held;   /* queue src pads blocked until the tracks are settled */
  GArray *probes;    /* their probe ids (gulong) */
  gboolean released; /* the held tracks went through: the file's tracks are fixed */
  guint generation;  /* counts publishes, so a timer of an earlier one does nothing */
  guint settle_timer; /* main thread only */
} KeyPipeline;

typedef struct {
  KeyPipeline *kp;
  guint generation;
} SettleRequest;

/* --- JSON lines ---------------------------------------------------------------------------- */

static GMutex print_lock; /* lines come from the main and the connection threads */

static void json_string(GString *out, const char *s) {
  g_string_append_c(out, '"');
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; ++p) {
    if (*p == '"' || *p == '\\')
      g_string_append_printf(out, "\\%c", *p);
    else if (*p < 0x20)
      g_string_append_printf(out, "\\u%04x", *p);
    else
      g_string_append_c(out, (char)*p);
  }
  g_string_append_c(out, '"');
}

static void json_value(GString *out, const GValue *v) {
  switch (G_VALUE_TYPE(v)) {
    case G_TYPE_BOOLEAN:
      g_string_append(out, g_value_get_boolean(v) ? "true" : "false");
      break;
    case G_TYPE_STRING:
      json_string(out, g_value_get_string(v));
      break;
    case G_TYPE_INT:
      g_string_append_printf(out, "%d", g_value_get_int(v));
      break;
    case G_TYPE_UINT:
      g_string_append_printf(out, "%u", g_value_get_uint(v));
      break;
    case G_TYPE_INT64:
      g_string_append_printf(out, "%" G_GINT64_FORMAT, g_value_get_int64(v));
      break;
    case G_TYPE_UINT64:
      g_string_append_printf(out, "%" G_GUINT64_FORMAT, g_value_get_uint64(v));
      break;
    default: {
      gchar *text = gst_value_serialize(v);
      json_string(out, text);
      g_free(text);
    }
  }
}

typedef struct {
  GString *out;
  gboolean first;
} FieldsJson;

static gboolean field_to_json(GQuark field, const GValue *value, gpointer data) {
  FieldsJson *f = data;
  g_string_append(f->out, f->first ? "" : ", ");
  f->first = FALSE;
  json_string(f->out, g_quark_to_string(field));
  g_string_append(f->out, ": ");
  json_value(f->out, value);
  return TRUE;
}

/* Appends the structure's fields as `"name": value` pairs. */
static void structure_fields(GString *out, const GstStructure *s, gboolean first) {
  FieldsJson f = {out, first};
  gst_structure_foreach(s, field_to_json, &f);
}

/* {"event": EVENT, "key": KEY, <fields of s>, <extra: already-formatted pairs>} */
static void emit(const char *event, const char *key, const GstStructure *s, const char *extra) {
  GString *line = g_string_new("{\"event\": ");
  json_string(line, event);
  if (key) {
    g_string_append(line, ", \"key\": ");
    json_string(line, key);
  }
  if (s) structure_fields(line, s, FALSE);
  if (extra) g_string_append_printf(line, ", %s", extra);
  g_string_append(line, "}\n");
  g_mutex_lock(&print_lock);
  fputs(line->str, stdout);
  fflush(stdout);
  g_mutex_unlock(&print_lock);
  g_string_free(line, TRUE);
}

static void emit_file(const char *event, const char *key, const char *file) {
  GString *extra = g_string_new("\"file\": ");
  json_string(extra, file);
  emit(event, key, NULL, extra->str);
  g_string_free(extra, TRUE);
}

/* --- keys --------------------------------------------------------------------------------- */

/* The keys of the file, one per line, '#' starts a comment; NULL when it cannot be read. */
static GPtrArray *read_keys(const char *path) {
  gchar *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL)) return NULL;
  GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
  gchar **lines = g_strsplit(text, "\n", -1);
  for (gchar **l = lines; *l; ++l) {
    gchar *hash = strchr(*l, '#');
    if (hash) *hash = '\0';
    gchar *key = g_strstrip(*l);
    if (*key) g_ptr_array_add(keys, g_strdup(key));
  }
  g_strfreev(lines);
  g_free(text);
  return keys;
}

static gboolean key_in_file(const char *path, const char *key) {
  GPtrArray *keys = read_keys(path);
  gboolean found = FALSE;
  for (guint i = 0; keys && i < keys->len; ++i) found |= g_strcmp0(keys->pdata[i], key) == 0;
  if (keys) g_ptr_array_unref(keys);
  return found;
}

/* --- one key ------------------------------------------------------------------------------ */

/* Connection thread: is the publisher's key still in the file? */
static gboolean on_publish_request(GstElement *src, const gchar *app, const gchar *stream,
                                   const gchar *tc_url, const gchar *query, const gchar *peer,
                                   gpointer data) {
  KeyPipeline *kp = data;
  (void)src, (void)tc_url, (void)query;
  gboolean accepted = key_in_file(kp->service->keys_path, stream);
  GstStructure *s = gst_structure_new("r", "app", G_TYPE_STRING, app, "peer", G_TYPE_STRING, peer,
                                      "accepted", G_TYPE_BOOLEAN, accepted, NULL);
  emit("publish-request", stream, s, NULL);
  gst_structure_free(s);
  return accepted;
}

/* The highest-ranked parser for these caps (h264parse, aacparse, ...): it completes the caps
 * matroskamux wants (h264parse adds width/height from the SPS). */
static GstElement *make_parser(GstCaps *caps) {
  GList *all = gst_element_factory_list_get_elements(GST_ELEMENT_FACTORY_TYPE_PARSER,
                                                     GST_RANK_MARGINAL);
  GList *fit = gst_element_factory_list_filter(all, caps, GST_PAD_SINK, FALSE);
  fit = g_list_sort(fit, gst_plugin_feature_rank_compare_func);
  GstElement *parser = fit ? gst_element_factory_create(GST_ELEMENT_FACTORY(fit->data), NULL) : NULL;
  gst_plugin_feature_list_free(fit);
  gst_plugin_feature_list_free(all);
  return parser;
}

static void add_to_branch(KeyPipeline *kp, GstElement *e) {
  gst_bin_add(GST_BIN(kp->pipeline), e);
  g_ptr_array_add(kp->branch, gst_object_ref(e));
}

static GstPadProbeReturn hold(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
  (void)pad, (void)info, (void)data;
  return GST_PAD_PROBE_OK; /* a BLOCK probe: the pad stays blocked while it is installed */
}

/* Main thread: the held tracks go through. */
static gboolean release_tracks(gpointer data) {
  KeyPipeline *kp = data;
  kp->settle_timer = 0;
  g_mutex_lock(&kp->lock);
  kp->released = kp->recording != NULL;
  for (guint i = 0; i < kp->held->len; ++i) {
    gst_pad_remove_probe(kp->held->pdata[i], g_array_index(kp->probes, gulong, i));
  }
  g_ptr_array_set_size(kp->held, 0);
  g_array_set_size(kp->probes, 0);
  g_mutex_unlock(&kp->lock);
  return G_SOURCE_REMOVE;
}

/* Main thread: a pad was added; the tracks go through TRACKS_SETTLE_MS after the last one. */
static gboolean settle_tracks(gpointer data) {
  SettleRequest *r = data;
  KeyPipeline *kp = r->kp;
  if (r->generation == kp->generation) {
    if (kp->settle_timer) g_source_remove(kp->settle_timer);
    kp->settle_timer = g_timeout_add(TRACKS_SETTLE_MS, release_tracks, kp);
  }
  g_free(r);
  return G_SOURCE_REMOVE;
}

static void start_recording(KeyPipeline *kp) {
  char stamp[32];
  time_t now = time(NULL);
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
  kp->recording = g_strdup_printf("%s/%s-%s.mkv", kp->service->out, kp->key, stamp);
  for (int n = 2; g_file_test(kp->recording, G_FILE_TEST_EXISTS); ++n) {
    g_free(kp->recording);
    kp->recording = g_strdup_printf("%s/%s-%s-%d.mkv", kp->service->out, kp->key, stamp, n);
  }
  kp->mux = gst_element_factory_make("matroskamux", NULL);
  /* Added to a PLAYING pipeline: no preroll of its own (the pipeline stays PLAYING). */
  GstElement *sink = gst_element_factory_make("filesink", NULL);
  g_object_set(sink, "location", kp->recording, "async", FALSE, NULL);
  add_to_branch(kp, kp->mux);
  add_to_branch(kp, sink);
  gst_element_link(kp->mux, sink);
  gst_element_sync_state_with_parent(sink);
  gst_element_sync_state_with_parent(kp->mux);
  emit_file("recording", kp->key, kp->recording);
}

/* A pad's streaming thread: a new track. The first one of a publish creates the muxer and the
 * file. */
static void on_pad_added(GstElement *src, GstPad *pad, gpointer data) {
  KeyPipeline *kp = data;
  (void)src;
  g_mutex_lock(&kp->lock);
  if (kp->released) {
    /* The muxer has written its header: this track cannot join the file. */
    gchar *extra = g_strdup_printf("\"message\": \"%s appeared after the recording started: "
                                   "not recorded\"",
                                   GST_PAD_NAME(pad));
    emit("warning", kp->key, NULL, extra);
    g_free(extra);
    GstElement *sink = gst_element_factory_make("fakesink", NULL);
    g_object_set(sink, "async", FALSE, NULL);
    add_to_branch(kp, sink);
    gst_element_sync_state_with_parent(sink);
    GstPad *sinkpad = gst_element_get_static_pad(sink, "sink");
    gst_pad_link(pad, sinkpad);
    g_ptr_array_add(kp->heads, sinkpad); /* EOS on shutdown ends it too */
    g_mutex_unlock(&kp->lock);
    return;
  }
  if (!kp->recording) start_recording(kp);
  /* queue ! <parser> ! matroskamux: the parser completes the caps the muxer wants. */
  GstCaps *caps = gst_pad_get_current_caps(pad);
  GstElement *parser = caps ? make_parser(caps) : NULL;
  gchar *caps_text = caps ? gst_caps_to_string(caps) : g_strdup("no caps");
  if (caps) gst_caps_unref(caps);
  gboolean linked = FALSE;
  if (!parser) {
    gchar *extra = g_strdup_printf("\"message\": \"no parser for %s: not recorded\"", caps_text);
    emit("warning", kp->key, NULL, extra);
    g_free(extra);
  } else {
    GstElement *queue = gst_element_factory_make("queue", NULL);
    add_to_branch(kp, queue);
    add_to_branch(kp, parser);
    if (gst_element_link_many(queue, parser, kp->mux, NULL)) {
      GstPad *queue_src = gst_element_get_static_pad(queue, "src");
      gulong probe = gst_pad_add_probe(queue_src, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM, hold,
                                       NULL, NULL);
      g_ptr_array_add(kp->held, queue_src);
      g_array_append_val(kp->probes, probe);
      gst_element_sync_state_with_parent(parser);
      gst_element_sync_state_with_parent(queue);
      GstPad *sinkpad = gst_element_get_static_pad(queue, "sink");
      gst_pad_link(pad, sinkpad);
      g_ptr_array_add(kp->heads, sinkpad);
      linked = TRUE;
    } else {
      emit("warning", kp->key, NULL, "\"message\": \"matroskamux takes no such track\"");
    }
  }
  g_free(caps_text);
  SettleRequest *r = g_new(SettleRequest, 1);
  r->kp = kp;
  r->generation = kp->generation;
  g_mutex_unlock(&kp->lock);
  if (linked) {
    g_idle_add(settle_tracks, r);
  } else {
    g_free(r);
  }
}

/* After a publish: drop its branch, wait for the next publisher. */
static void restart(KeyPipeline *kp) {
  gst_element_set_state(kp->pipeline, GST_STATE_NULL);
  if (kp->settle_timer) g_source_remove(kp->settle_timer);
  kp->settle_timer = 0;
  g_mutex_lock(&kp->lock);
  for (guint i = 0; i < kp->branch->len; ++i) {
    GstElement *e = kp->branch->pdata[i];
    gst_element_set_state(e, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(kp->pipeline), e);
  }
  g_ptr_array_set_size(kp->branch, 0);
  g_ptr_array_set_size(kp->heads, 0);
  g_clear_pointer(&kp->recording, g_free);
  kp->mux = NULL;
  kp->finished = FALSE;
  g_ptr_array_set_size(kp->held, 0);
  g_array_set_size(kp->probes, 0);
  kp->released = FALSE;
  ++kp->generation;
  g_mutex_unlock(&kp->lock);
  gst_element_set_state(kp->pipeline, GST_STATE_PLAYING);
}

static void check_stopped(Service *s);

static gboolean on_message(GstBus *bus, GstMessage *msg, gpointer data) {
  KeyPipeline *kp = data;
  (void)bus;
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure(msg);
      const char *name = gst_structure_get_name(s);
      if (g_str_has_prefix(name, "rtmpingestsrc-")) {
        emit(name + strlen("rtmpingestsrc-"), kp->key, s, NULL);
      }
      break;
    }
    case GST_MESSAGE_EOS: {
      /* The recording is complete: the publisher left (or we are shutting down). */
      g_mutex_lock(&kp->lock);
      kp->finished = TRUE;
      gchar *file = g_strdup(kp->recording);
      g_mutex_unlock(&kp->lock);
      emit_file("recorded", kp->key, file);
      g_free(file);
      if (kp->service->stopping) {
        check_stopped(kp->service);
      } else {
        restart(kp);
      }
      break;
    }
    case GST_MESSAGE_ERROR: {
      GError *err = NULL;
      gst_message_parse_error(msg, &err, NULL);
      GString *extra = g_string_new("\"message\": ");
      json_string(extra, err->message);
      emit("error", kp->key, NULL, extra->str);
      g_string_free(extra, TRUE);
      g_error_free(err);
      kp->service->exit_status = 1;
      g_main_loop_quit(kp->service->loop);
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static KeyPipeline *key_pipeline_new(Service *s, const char *key) {
  KeyPipeline *kp = g_new0(KeyPipeline, 1);
  kp->service = s;
  kp->key = g_strdup(key);
  g_mutex_init(&kp->lock);
  kp->branch = g_ptr_array_new_with_free_func(gst_object_unref);
  kp->heads = g_ptr_array_new_with_free_func(gst_object_unref);
  kp->held = g_ptr_array_new_with_free_func(gst_object_unref);
  kp->probes = g_array_new(FALSE, FALSE, sizeof(gulong));
  kp->pipeline = gst_pipeline_new(NULL);
  kp->src = gst_element_factory_make("rtmpingestsrc", "src");
  if (!kp->src) {
    fprintf(stderr, "rtmpingestsrc not found: install the gst-ertmp plugin or set "
                    "GST_PLUGIN_PATH\n");
    exit(1);
  }
  gst_util_set_object_arg(G_OBJECT(kp->src), "on-disconnect", "eos");
  g_object_set(kp->src, "address", s->address, "port", (guint)s->port, "application", s->app,
               "stream-key", key, NULL);
  gst_bin_add(GST_BIN(kp->pipeline), kp->src);
  g_signal_connect(kp->src, "publish-request", G_CALLBACK(on_publish_request), kp);
  g_signal_connect(kp->src, "pad-added", G_CALLBACK(on_pad_added), kp);
  GstBus *bus = gst_element_get_bus(kp->pipeline);
  gst_bus_add_watch(bus, on_message, kp);
  gst_object_unref(bus);
  return kp;
}

/* EOS into every branch head; TRUE when there is a recording to wait for. */
static gboolean begin_shutdown(KeyPipeline *kp) {
  if (kp->settle_timer) g_source_remove(kp->settle_timer);
  release_tracks(kp); /* held tracks go through first, then their EOS */
  g_mutex_lock(&kp->lock);
  gboolean waiting = kp->recording && !kp->finished;
  for (guint i = 0; waiting && i < kp->heads->len; ++i) {
    gst_pad_send_event(kp->heads->pdata[i], gst_event_new_eos());
  }
  g_mutex_unlock(&kp->lock);
  return waiting;
}

static void key_pipeline_free(gpointer data) {
  KeyPipeline *kp = data;
  gst_element_set_state(kp->pipeline, GST_STATE_NULL);
  GstBus *bus = gst_element_get_bus(kp->pipeline);
  gst_bus_remove_watch(bus);
  gst_object_unref(bus);
  g_ptr_array_unref(kp->heads);
  g_ptr_array_unref(kp->held);
  g_array_unref(kp->probes);
  g_ptr_array_unref(kp->branch);
  gst_object_unref(kp->pipeline);
  g_free(kp->recording);
  g_free(kp->key);
  g_mutex_clear(&kp->lock);
  g_free(kp);
}

/* --- the service -------------------------------------------------------------------------- */

static gboolean print_stats(gpointer data) {
  Service *s = data;
  GString *extra = g_string_new("\"streams\": {");
  for (guint i = 0; i < s->pipelines->len; ++i) {
    KeyPipeline *kp = s->pipelines->pdata[i];
    GstStructure *stats = NULL;
    g_object_get(kp->src, "stats", &stats, NULL);
    g_string_append(extra, i ? ", " : "");
    json_string(extra, kp->key);
    g_string_append(extra, ": {");
    structure_fields(extra, stats, TRUE);
    g_string_append(extra, "}");
    gst_structure_free(stats);
  }
  g_string_append(extra, "}");
  emit("stats", NULL, NULL, extra->str);
  g_string_free(extra, TRUE);
  return G_SOURCE_CONTINUE;
}

static void check_stopped(Service *s) {
  for (guint i = 0; i < s->pipelines->len; ++i) {
    KeyPipeline *kp = s->pipelines->pdata[i];
    g_mutex_lock(&kp->lock);
    gboolean open = kp->recording && !kp->finished;
    g_mutex_unlock(&kp->lock);
    if (open) return;
  }
  g_main_loop_quit(s->loop);
}

static gboolean on_shutdown_timeout(gpointer data) {
  Service *s = data;
  emit("error", NULL, NULL, "\"message\": \"recordings not finalized in time\"");
  s->exit_status = 1;
  g_main_loop_quit(s->loop);
  return G_SOURCE_REMOVE;
}

static gboolean on_signal(gpointer data) {
  Service *s = data;
  if (s->stopping) return G_SOURCE_CONTINUE;
  s->stopping = TRUE;
  emit("shutdown", NULL, NULL, NULL);
  gboolean waiting = FALSE;
  for (guint i = 0; i < s->pipelines->len; ++i) waiting |= begin_shutdown(s->pipelines->pdata[i]);
  if (waiting) {
    g_timeout_add_seconds(SHUTDOWN_TIMEOUT_S, on_shutdown_timeout, s);
  } else {
    g_main_loop_quit(s->loop);
  }
  return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv) {
  Service s = {.address = "0.0.0.0", .app = "live", .out = "recordings", .port = 1935,
               .stats_interval = 5.0};
  gchar *keys = NULL, *address = NULL, *app = NULL, *out = NULL;
  GOptionEntry entries[] = {
      {"keys", 0, 0, G_OPTION_ARG_FILENAME, &keys, "File with one stream key per line", "FILE"},
      {"address", 0, 0, G_OPTION_ARG_STRING, &address, "Address to listen on (0.0.0.0)", "ADDR"},
      {"port", 0, 0, G_OPTION_ARG_INT, &s.port, "TCP port (1935)", "PORT"},
      {"app", 0, 0, G_OPTION_ARG_STRING, &app, "RTMP application (live; \"\" = any)", "APP"},
      {"out", 0, 0, G_OPTION_ARG_FILENAME, &out, "Directory for the .mkv files", "DIR"},
      {"stats-interval", 0, 0, G_OPTION_ARG_DOUBLE, &s.stats_interval, "Seconds (5)", "S"},
      {NULL, 0, 0, 0, NULL, NULL, NULL}};
  GOptionContext *ctx = g_option_context_new("- RTMP ingest service on rtmpingestsrc");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  GError *err = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &err) || !keys) {
    fprintf(stderr, "%s\n", err ? err->message : "--keys FILE is required");
    return 2;
  }
  g_option_context_free(ctx);
  s.keys_path = keys;
  if (address) s.address = address;
  if (app) s.app = app;
  if (out) s.out = out;

  GPtrArray *key_list = read_keys(s.keys_path);
  if (!key_list || key_list->len == 0) {
    fprintf(stderr, "no stream keys in %s\n", s.keys_path);
    return 1;
  }
  if (g_mkdir_with_parents(s.out, 0755) != 0) {
    fprintf(stderr, "cannot create %s: %s\n", s.out, g_strerror(errno));
    return 1;
  }
  s.loop = g_main_loop_new(NULL, FALSE);
  s.pipelines = g_ptr_array_new_with_free_func(key_pipeline_free);
  for (guint i = 0; i < key_list->len; ++i) {
    KeyPipeline *kp = key_pipeline_new(&s, key_list->pdata[i]);
    g_ptr_array_add(s.pipelines, kp);
    if (gst_element_set_state(kp->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      fprintf(stderr, "could not listen on %s:%d\n", s.address, s.port);
      return 1;
    }
  }
  gint port = -1;
  g_object_get(((KeyPipeline *)s.pipelines->pdata[0])->src, "bound-port", &port, NULL);
  GString *extra = g_string_new("\"address\": ");
  json_string(extra, s.address);
  g_string_append_printf(extra, ", \"port\": %d, \"application\": ", port);
  json_string(extra, s.app);
  g_string_append_printf(extra, ", \"keys\": %u", key_list->len);
  emit("listening", NULL, NULL, extra->str);
  g_string_free(extra, TRUE);
  g_ptr_array_unref(key_list);

  g_timeout_add((guint)(s.stats_interval * 1000), print_stats, &s);
  g_unix_signal_add(SIGINT, on_signal, &s);
  g_unix_signal_add(SIGTERM, on_signal, &s);
  g_main_loop_run(s.loop);

  g_ptr_array_unref(s.pipelines);
  g_main_loop_unref(s.loop);
  g_free(keys);
  g_free(address);
  g_free(app);
  g_free(out);
  return s.exit_status;
}
