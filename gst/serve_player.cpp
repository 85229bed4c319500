#include "gst/serve_player.h"

namespace gst_ertmp {

void PlayerFeed::start(uint32_t stream_id, const rtmp::PeerCapabilities& caps) {
  gate_ = rtmp::PlayerGate(limits_);
  caps_ = caps;
  stream_id_ = stream_id;
  playing_ = true;
}

rtmp::GateVerdict PlayerFeed::offer(rtmp::ServerSession& session, const rtmp::SharedItem& item,
                                    uint64_t now_ms) {
  if (!playing_ || !item) return rtmp::GateVerdict::kSkip;
  if (rtmp::admit_tag(*item, caps_) != rtmp::Admission::kAllowed) {
    ++not_admitted_;
    return rtmp::GateVerdict::kSkip;
  }
  const rtmp::GateVerdict v = gate_.offer(*item, session.pending_output_size(), now_ms);
  if (v != rtmp::GateVerdict::kSend) return v;
  const rtmp::Message& m = item->message;
  if (!session.send_media_borrowed(stream_id_, m, m.payload).ok()) return rtmp::GateVerdict::kSkip;
  ++sent_;
  // The payload is referenced by the output until the socket has taken everything queued now.
  held_.emplace_back(session.bytes_sent() + session.pending_output_size(), item);
  return v;
}

void PlayerFeed::sent_up_to(uint64_t bytes_sent) {
  while (!held_.empty() && held_.front().first <= bytes_sent) held_.pop_front();
}

}  // namespace gst_ertmp
