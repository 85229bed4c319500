// GstCaps -> FLV / E-RTMP packaging for rtmppushsink: the direction opposite to codec_caps.h.
//
// For each sink pad the element asks push_format_from_caps() once per caps event, then
// frame_payload() per buffer. The sequence header (SequenceStart body) is what a receiver's
// caps_for() (codec_caps.h) turns back into caps: avcC, hvcC, av1C, vpcC, AudioSpecificConfig,
// OpusHead (RFC 7845 §5.1), "fLaC" + STREAMINFO block; none for MP3/AC-3/E-AC-3/legacy codecs.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/amf_value.h"
#include "protocol/byte_reader.h"
#include "protocol/color_info.h"
#include "protocol/flv_tag.h"

namespace gst_ertmp {

struct PushFormat {
  rtmp::Codec codec = rtmp::Codec::kUnknown;
  bool video = false;
  // SequenceStart body; empty when the codec has none or it is not known yet.
  std::vector<uint8_t> sequence_header;
  // True while the sequence header must still be derived from the first frame (AV1 without
  // codec_data in caps: av1C from the sequence header OBU of the first temporal unit; VP9:
  // vpcC from the first frame's uncompressed header). frame_payload() fills it and clears this.
  bool sequence_header_pending = false;
  // The codec can travel as a legacy FLV tag (AVC, AAC, MP3 at a legacy rate, PCM, G.711,
  // Speex, Nellymoser, H.263, VP6, screen video). HEVC/AV1/VP9/Opus/FLAC/AC-3/E-AC-3 cannot.
  bool has_legacy_form = false;
  // Legacy audio header bits (SoundRate 0-3, SoundSize 0-1, SoundType 0-1) for legacy audio.
  uint8_t sound_rate = 3;
  uint8_t sound_size = 1;
  uint8_t sound_type = 1;
  // For onMetaData (0 = unknown).
  int width = 0;
  int height = 0;
  int fps_n = 0;
  int fps_d = 1;
  int rate = 0;
  int channels = 0;
  // Bits per second for videodatarate/audiodatarate (0 = unknown). Not from caps: the element
  // sets it from the pad's bitrate / nominal-bitrate tags.
  int bitrate = 0;
  // Video: the E-RTMP colorInfo of the caps' colorimetry, mastering-display-info,
  // content-light-level and bit-depth-luma (codec_caps.h color_info_from_caps); empty when the
  // caps carry none of them.
  rtmp::ColorInfo color_info;
};

// The packaging of a stream with these (fixed) caps. nullopt with `error` set when the caps
// cannot be carried (unknown media type, H.264 in byte-stream format, missing codec_data where
// it is required, malformed codec_data).
std::optional<PushFormat> push_format_from_caps(const GstCaps* caps, std::string* error);

// Whether a buffer is a header already carried by the sequence header (flacenc/opusenc/
// vorbis-style HEADER-flagged buffers repeated from the caps' streamheader): skip it.
bool is_stream_header_buffer(const PushFormat& format, GstBuffer* buffer);

// Turns one buffer's bytes into the CodedFrames payload. Sets `*as_is` and leaves `out` empty
// when the input can be sent unchanged (the common case: no copy); otherwise fills `out`
// (AV1: temporal delimiter OBUs removed). May fill format.sequence_header when it was pending.
// Returns false with `error` for malformed input. A VP8/VP9 frame that is not a key frame leaves
// the header pending (true is returned): the caller drops such frames until it is known.
bool frame_payload(PushFormat& format, rtmp::Bytes in, std::vector<uint8_t>& out, bool* as_is,
                   std::string* error);

// `onMetaData` for the default tracks (track 0 of each kind; either may be null) and the
// pipeline's tags: videocodecid/audiocodecid (legacy id, or the FourCC as a number for
// E-RTMP codecs), width, height, framerate, audiosamplerate, audiosamplesize, stereo,
// videodatarate/audiodatarate (kbit/s, from PushFormat::bitrate), title/creator/encoder from
// tags (encoder defaults to "GStreamer rtmppushsink").
rtmp::amf::Value build_metadata(const PushFormat* video, bool video_enhanced,
                                const PushFormat* audio, bool audio_enhanced,
                                const GstTagList* tags);

}  // namespace gst_ertmp
