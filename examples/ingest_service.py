#!/usr/bin/env python3
"""An RTMP ingest service on rtmpingestsrc: authenticates publishers against a file of stream
keys, records each publish to its own Matroska file, prints statistics as JSON and shuts down
cleanly on SIGINT/SIGTERM (every open recording is finalized).

    ingest_service.py --keys keys.txt [--port 1935] [--address 0.0.0.0] [--app live]
                      [--out recordings] [--stats-interval 5]

keys.txt holds one stream key per line ('#' starts a comment). Publish with e.g.
    ffmpeg -re -i in.mp4 -c copy -f flv rtmp://HOST:1935/live/KEY

How it uses the element (what rtmpingestsrc supports today):
- One rtmpingestsrc carries one publisher at a time, so there is one per key, each in its own
  pipeline, all on the same address and port: elements of one process share the listener and
  a publisher is routed by application and stream key. A key not in the file when the service
  started has no element and is refused by the listener (NetStream.Publish.BadName).
- The `publish-request` signal is the authentication hook: it is asked on the connection thread
  before a publish is accepted; here it re-reads the key file, so a key removed from the file is
  refused from then on without a restart (the publisher gets NetStream.Publish.BadName).
- Each publish gets its own file: on-disconnect=eos ends the recording when the publisher
  leaves (the muxer finalizes it), and the service then restarts that key's pipeline for the
  next publish.
- Each pad streams from its own thread and is added from it (as a demuxer's pads are), so one
  track's data can reach the muxer before the next track's pad exists, and matroskamux writes
  its header with the tracks it has by then. The service holds every track of a publish
  (a blocking probe after its queue) until no new pad came for TRACKS_SETTLE_MS, then lets
  them all through; a track that appears later is not recorded (a warning says so).
- The `stats` property (a GstStructure) is read every --stats-interval seconds and printed as
  one JSON line.
- On SIGINT/SIGTERM an EOS is sent into each recording branch (sending it to the element
  itself would reach only one of its pads), the service waits (bounded) for every file to be
  finalized, then stops. Exit status 0 when every recording was finalized.

Every line on stdout is one JSON object with an "event" field.

Needs Debian's python3-gi and gir1.2-gstreamer-1.0, the gst-ertmp plugin (installed, or
GST_PLUGIN_PATH=<build>/gst) and gstreamer1.0-plugins-good (matroskamux).
"""

import argparse
import json
import os
import signal
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

SHUTDOWN_TIMEOUT_S = 10
# A publisher sends every track's sequence header in its first messages: pads added within this
# long of each other belong to one recording.
TRACKS_SETTLE_MS = 500


EMIT_LOCK = threading.Lock()


def emit(event, **fields):
    # One write per line under a lock: handlers run on several streaming threads, and print()
    # writes the text and its newline separately (two threads' lines could interleave).
    line = json.dumps({"event": event, **fields}) + "\n"
    with EMIT_LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


def read_keys(path):
    keys = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            key = line.split("#", 1)[0].strip()
            if key:
                keys.append(key)
    return keys


def make_parser(caps):
    """The highest-ranked parser for these caps (h264parse, aacparse, opusparse, ...)."""
    parsers = Gst.ElementFactory.list_get_elements(Gst.ELEMENT_FACTORY_TYPE_PARSER,
                                                   Gst.Rank.MARGINAL)
    parsers = Gst.ElementFactory.list_filter(parsers, caps, Gst.PadDirection.SINK, False)
    parsers.sort(key=lambda f: f.get_rank(), reverse=True)
    return parsers[0].create(None) if parsers else None


def to_json_value(v):
    if isinstance(v, Gst.Structure):
        return structure_to_dict(v)
    if isinstance(v, list):  # a GValueArray (stats "connections")
        return [to_json_value(x) for x in v]
    return v


def structure_to_dict(s):
    return {
        s.nth_field_name(i): to_json_value(s.get_value(s.nth_field_name(i)))
        for i in range(s.n_fields())
    }


class KeyPipeline:
    """One key: rtmpingestsrc, and per publish a queue per pad into matroskamux ! filesink."""

    def __init__(self, service, key):
        self.service = service
        self.key = key
        self.pipeline = Gst.Pipeline.new("ingest-" + key)
        self.src = Gst.ElementFactory.make("rtmpingestsrc", "src")
        if self.src is None:
            sys.exit("rtmpingestsrc not found: install the gst-ertmp plugin or set GST_PLUGIN_PATH")
        args = service.args
        self.src.set_property("address", args.address)
        self.src.set_property("port", args.port)
        self.src.set_property("application", args.app)
        self.src.set_property("stream-key", key)
        self.src.set_property("on-disconnect", "eos")
        self.pipeline.add(self.src)
        self.src.connect("publish-request", self.on_publish_request)
        self.src.connect("pad-added", self.on_pad_added)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)
        # Pad-added handlers run on the pads' streaming threads: the lock guards what they touch.
        self.lock = threading.Lock()
        self.branch = []  # elements added for the current publish
        self.heads = []  # the queues' sink pads: where EOS goes on shutdown
        self.recording = None  # file of the current publish
        self.finished = False  # EOS reached the file (shutdown)
        self.holds = []  # (pad, probe id): tracks held until the set of tracks is settled
        self.released = False  # the held tracks went through: the file's tracks are fixed
        self.generation = 0  # counts publishes, so a timer of an earlier one does nothing
        self.settle_timer = 0

    def start(self):
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            return False
        return True

    # Connection thread: the publisher's key is still in the file?
    def on_publish_request(self, src, app, stream, tc_url, query, peer):
        try:
            accepted = stream in read_keys(self.service.args.keys)
        except OSError as e:
            emit("error", message=f"cannot read {self.service.args.keys}: {e}")
            accepted = False
        emit("publish-request", key=stream, app=app, peer=peer, accepted=accepted)
        return accepted

    # A pad's streaming thread: a new track of the publisher. The first one of a publish creates
    # the muxer and the file.
    def on_pad_added(self, src, pad):
        with self.lock:
            if self.released:
                # The muxer has written its header: this track cannot join the file.
                emit("warning", key=self.key,
                     message=f"{pad.get_name()} appeared after the recording started: not recorded")
                sink = Gst.ElementFactory.make("fakesink")
                sink.set_property("async", False)
                self.pipeline.add(sink)
                self.branch.append(sink)
                sink.sync_state_with_parent()
                pad.link(sink.get_static_pad("sink"))
                self.heads.append(sink.get_static_pad("sink"))  # EOS on shutdown ends it too
                return
            if self.recording is None:
                self.start_recording()
            # queue ! <parser> ! matroskamux: the parser completes the caps the muxer wants
            # (h264parse adds width/height from the SPS).
            caps = pad.get_current_caps()
            queue = Gst.ElementFactory.make("queue")
            parser = make_parser(caps)
            if parser is None:
                emit("warning", key=self.key, message=f"no parser for {caps.to_string()}: not recorded")
                return
            for e in (queue, parser):
                self.pipeline.add(e)
                self.branch.append(e)
            if not queue.link(parser) or not parser.link(self.mux):
                emit("warning", key=self.key, message=f"matroskamux takes no {caps.to_string()}")
                return
            held = queue.get_static_pad("src")
            probe = held.add_probe(Gst.PadProbeType.BLOCK_DOWNSTREAM,
                                   lambda *_: Gst.PadProbeReturn.OK)
            self.holds.append((held, probe))
            parser.sync_state_with_parent()
            queue.sync_state_with_parent()
            sinkpad = queue.get_static_pad("sink")
            pad.link(sinkpad)
            self.heads.append(sinkpad)
            generation = self.generation
        GLib.idle_add(self.settle_tracks, generation)

    def start_recording(self):
        name = "%s-%s.mkv" % (self.key, time.strftime("%Y%m%d-%H%M%S"))
        self.recording = os.path.join(self.service.args.out, name)
        n = 1
        while os.path.exists(self.recording):
            n += 1
            self.recording = os.path.join(self.service.args.out, "%s-%d.mkv" % (name[:-4], n))
        self.mux = Gst.ElementFactory.make("matroskamux")
        sink = Gst.ElementFactory.make("filesink")
        sink.set_property("location", self.recording)
        # Added to a PLAYING pipeline: no preroll of its own (the pipeline stays PLAYING).
        sink.set_property("async", False)
        for e in (self.mux, sink):
            self.pipeline.add(e)
            self.branch.append(e)
        self.mux.link(sink)
        sink.sync_state_with_parent()
        self.mux.sync_state_with_parent()
        emit("recording", key=self.key, file=self.recording)

    # Main thread: a pad was added; the tracks go through TRACKS_SETTLE_MS after the last one.
    def settle_tracks(self, generation):
        if generation == self.generation:
            if self.settle_timer:
                GLib.source_remove(self.settle_timer)
            self.settle_timer = GLib.timeout_add(TRACKS_SETTLE_MS, self.release_tracks)
        return GLib.SOURCE_REMOVE

    def release_tracks(self):
        self.settle_timer = 0
        with self.lock:
            self.released = self.recording is not None
            holds, self.holds = self.holds, []
        for pad, probe in holds:
            pad.remove_probe(probe)
        return GLib.SOURCE_REMOVE

    def on_message(self, bus, msg):
        t = msg.type
        if t == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s.get_name().startswith("rtmpingestsrc-"):
                emit(s.get_name()[len("rtmpingestsrc-"):], key=self.key, **structure_to_dict(s))
        elif t == Gst.MessageType.EOS:
            # The recording is complete: the publisher left (or we are shutting down).
            emit("recorded", key=self.key, file=self.recording)
            self.finished = True
            if self.service.stopping:
                self.service.check_stopped()
            else:
                self.restart()
        elif t == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            emit("error", key=self.key, message=err.message, debug=debug or "")
            self.service.fail()

    def restart(self):
        """After a publish: drop its branch, wait for the next publisher."""
        self.pipeline.set_state(Gst.State.NULL)
        if self.settle_timer:
            GLib.source_remove(self.settle_timer)
            self.settle_timer = 0
        with self.lock:
            for e in self.branch:
                e.set_state(Gst.State.NULL)
                self.pipeline.remove(e)
            self.branch, self.heads, self.recording, self.finished = [], [], None, False
            self.holds, self.released = [], False
            self.generation += 1
        self.pipeline.set_state(Gst.State.PLAYING)

    def stats(self):
        return structure_to_dict(self.src.get_property("stats"))

    def begin_shutdown(self):
        """EOS into every branch head; True when there is a recording to wait for."""
        if self.settle_timer:
            GLib.source_remove(self.settle_timer)
        self.release_tracks()  # held tracks go through first, then their EOS
        with self.lock:
            if self.recording is None or self.finished:
                return False
            heads = list(self.heads)
        for head in heads:
            head.send_event(Gst.Event.new_eos())
        return True

    def stop(self):
        self.pipeline.set_state(Gst.State.NULL)
        self.pipeline.get_bus().remove_signal_watch()


class Service:
    def __init__(self, args):
        self.args = args
        self.loop = GLib.MainLoop()
        self.stopping = False
        self.exit_status = 0
        self.pipelines = []

    def run(self):
        keys = read_keys(self.args.keys)
        if not keys:
            sys.exit(f"no stream keys in {self.args.keys}")
        os.makedirs(self.args.out, exist_ok=True)
        for key in keys:
            p = KeyPipeline(self, key)
            if not p.start():
                sys.exit(f"could not listen on {self.args.address}:{self.args.port}")
            self.pipelines.append(p)
        port = self.pipelines[0].src.get_property("bound-port")
        emit("listening", address=self.args.address, port=port, application=self.args.app,
             keys=len(keys))
        GLib.timeout_add(int(self.args.stats_interval * 1000), self.print_stats)
        for sig in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, self.on_signal)
        self.loop.run()
        for p in self.pipelines:
            p.stop()
        return self.exit_status

    def print_stats(self):
        emit("stats", streams={p.key: p.stats() for p in self.pipelines})
        return GLib.SOURCE_CONTINUE

    def on_signal(self):
        if self.stopping:
            return GLib.SOURCE_CONTINUE
        self.stopping = True
        emit("shutdown", open_recordings=sum(p.recording is not None for p in self.pipelines))
        waiting = [p for p in self.pipelines if p.begin_shutdown()]
        if not waiting:
            self.loop.quit()
        else:
            GLib.timeout_add_seconds(SHUTDOWN_TIMEOUT_S, self.on_shutdown_timeout)
        return GLib.SOURCE_CONTINUE

    def check_stopped(self):
        if all(p.recording is None or p.finished for p in self.pipelines):
            self.loop.quit()

    def on_shutdown_timeout(self):
        left = [p.recording for p in self.pipelines if p.recording and not p.finished]
        emit("error", message="recordings not finalized in time", files=left)
        self.exit_status = 1
        self.loop.quit()
        return GLib.SOURCE_REMOVE

    def fail(self):
        self.exit_status = 1
        self.loop.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", required=True, help="file with one stream key per line")
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=1935)
    parser.add_argument("--app", default="live", help='RTMP application ("" = any)')
    parser.add_argument("--out", default="recordings", help="directory for the .mkv files")
    parser.add_argument("--stats-interval", type=float, default=5.0, help="seconds")
    args = parser.parse_args()
    Gst.init(None)
    sys.exit(Service(args).run())


if __name__ == "__main__":
    main()
