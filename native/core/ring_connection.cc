#include "core/ring_connection.h"

#include <sys/socket.h>

namespace nm {

void RingConnection::emit(const char* data, size_t len) {
  if (failed_) return;
  if (queue_.empty()) {
    next_.insert(next_.end(), data, data + len);
    return;
  }
  JsBytes copy;
  copy.own.assign(data, len);
  queued_ += len;
  queue_.push_back(std::move(copy));
}

void RingConnection::Hold(const JsBytes& bytes) {
  if (!bytes.keep) {
    emit(bytes.data(), bytes.size());
    return;
  }
  if (failed_) return;
  queued_ += bytes.size();
  queue_.push_back(bytes);
}

void RingConnection::OnCompletion(Ring& ring, const Completion& e) {
  if (!e.more()) ops_--;
  if (TagOp(e.tag) == kOpRecv) {
    if (!e.more()) recv_armed_ = recv_cancelled_ = false;
    if (e.res > 0) {
      // One read per completion, however many buffers it filled.
      stats_->received(static_cast<uint64_t>(e.res));
      if (retiring_) {
        ring.TakeReceived(e, [](char*, int) {});
        return;
      }
      ring.TakeReceived(e, [this](char* data, int n) { OnData(data, static_cast<size_t>(n)); });
      Linger();
      return;
    }
    if (e.res != -ENOBUFS && e.res != -ECANCELED && !retiring_ && !ring.RefuseBundle(e)) {
      // -ENOBUFS: the buffer ring ran dry; the bytes are still in the
      // socket and are read once Submit() arms the recv again, after the
      // loop's round has given its buffers back. So is a bundle the
      // kernel refused.
      OnEnd(e.res);
    }
    ring.TakeReceived(e, [](char*, int) {});
  } else if (TagOp(e.tag) == kOpSend) {
    OnSent(e.res);
  }
}

void RingConnection::Submit(Ring& ring) {
  if (retiring_) return;
  if (WantsRead()) {
    if (!recv_armed_) {
      ring.RecvMultishot(fd_.get(), Tag(kOpRecv));
      recv_armed_ = true;
      ops_++;
    }
  } else if (recv_armed_ && !recv_cancelled_) {
    // Backpressure: a multishot recv goes on by itself, so it is cancelled.
    // Completions already on their way are still handled: nothing is lost.
    ring.Cancel(Tag(kOpRecv), Tag(kOpCancel));
    recv_cancelled_ = true;
  }
  if (sending_ || failed_) return;
  if (out_off_ == out_.size() && !next_.empty()) {
    out_.clear();
    out_off_ = 0;
    out_.swap(next_);
  }
  if (out_off_ < out_.size()) {
    ring.Send(fd_.get(), out_.data() + out_off_, out_.size() - out_off_, Tag(kOpSend));
  } else if (!queue_.empty()) {
    const JsBytes& front = queue_.front();
    ring.Send(fd_.get(), front.data() + queue_off_, front.size() - queue_off_, Tag(kOpSend));
  } else {
    return;
  }
  sending_ = true;
  ops_++;
}

void RingConnection::Retire(Ring& ring, bool cancel) {
  if (retiring_) return;
  retiring_ = true;
  if (!cancel) return;
  if (recv_armed_ && !recv_cancelled_) ring.Cancel(Tag(kOpRecv), Tag(kOpCancel));
  if (sending_) ring.Cancel(Tag(kOpSend), Tag(kOpCancel));
}

void RingConnection::Feed(char* data, size_t n) {
  NoteVerdict(Handle(state_, data, n, *this), &closing_, &waiting_);
}

void RingConnection::FeedHeld() {
  if (Holding() || held_.empty() || failed_ || retiring_) return;
  std::vector<char> input;
  input.swap(held_);
  Feed(input.data(), input.size());
  Linger();
}

void RingConnection::Apply(const JsOps::Op& op, const JsOps& ops) {
  if (op.kind == JsOps::Kind::kDestroy && !failed_ && Pending() > 0) {
    // The output JS wrote before destroy() is sent, as net.Socket sends
    // what it handed to the kernel, then the connection closes. Meanwhile
    // it lingers: input is discarded, and a peer that never reads is
    // closed kLingerMs later all the same.
    JsOps::Op credit = op;
    credit.kind = JsOps::Kind::kConsumed;
    js_.Apply(fd_.get(), credit, ops, &state_.js, *this, &waiting_, &failed_);
    destroyed_ = closing_ = lingering_ = true;
    return;
  }
  js_.Apply(fd_.get(), op, ops, &state_.js, *this, &waiting_, &failed_);
  // A send in flight counts in Pending(): the write side is shut only once
  // its completion says all of it went.
  js_.ShutIfFlushed(fd_.get(), Pending(), &failed_);
  FeedHeld();
}

void RingConnection::OnData(char* data, size_t n) {
  // Past a request that closes, input is dropped, as Connection does once
  // it lingers (a multishot recv may still deliver some before then).
  if (lingering_ || closing_) return;
  if (Holding()) {
    held_.insert(held_.end(), data, data + n);
    return;
  }
  Feed(data, n);
}

void RingConnection::OnEnd(int res) {
  if (res == 0) {
    read_done_ = true;
  } else {
    if (!PeerGone(-res)) Stats::add(stats_->errors, 1);
    failed_ = true;
    error_ = -res;
  }
  Linger();
}

void RingConnection::OnSent(int res) {
  sending_ = false;
  if (res > 0 && out_off_ == out_.size()) {
    // The send was from the front of queue_ (out_ was spent).
    stats_->sent(static_cast<uint64_t>(res));
    queue_off_ += static_cast<size_t>(res);
    if (queue_off_ == queue_.front().size()) {
      queued_ -= queue_.front().size();
      queue_off_ = 0;
      queue_.pop_front();  // a held Buffer goes back to JS from here
    }
    js_.ShutIfFlushed(fd_.get(), Pending(), &failed_);
  } else if (res > 0) {
    stats_->sent(static_cast<uint64_t>(res));
    out_off_ += static_cast<size_t>(res);
    if (out_off_ == out_.size()) {
      out_.clear();
      out_off_ = 0;
      // As Connection: an idle connection does not keep a burst's worth.
      if (out_.capacity() > 64 * 1024) std::vector<char>().swap(out_);
      js_.ShutIfFlushed(fd_.get(), Pending(), &failed_);
    }
  } else {
    // ECANCELED: the loop is closing this connection.
    if (res < 0 && res != -ECANCELED && !PeerGone(-res)) Stats::add(stats_->errors, 1);
    if (res < 0 && res != -ECANCELED) error_ = -res;
    failed_ = true;
  }
  Linger();
}

// As Connection::Linger: once the reply to a request that closes is out,
// shut the write side and discard input until the peer closes, so the
// reply is not destroyed by a reset.
void RingConnection::Linger() {
  if (!closing_ || lingering_ || failed_ || Pending() > 0) return;
  lingering_ = true;
  if (read_done_) return;
  if (::shutdown(fd_.get(), SHUT_WR) < 0) failed_ = true;
}

}  // namespace nm
