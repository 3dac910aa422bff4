#include "core/ring_connection.h"

#include <sys/socket.h>

#include <algorithm>

namespace nm {

RingConnection::~RingConnection() {
  for (const Piece& p : queue_) {
    if (p.buffer >= 0) ring_->Unpin(p.buffer);
  }
}

void RingConnection::emit(const char* data, size_t len) {
  if (failed_) return;
  if (Lendable(data, len)) {
    Piece lent;
    lent.lent = data;
    lent.lent_size = len;
    lent.buffer = ring_->Pin(data);
    queued_ += len;
    queue_.push_back(std::move(lent));
    return;
  }
  if (queue_.empty()) {
    next_.insert(next_.end(), data, data + len);
    return;
  }
  Piece copy;
  copy.js.own.assign(data, len);
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
  Piece held;
  held.js = bytes;
  queue_.push_back(std::move(held));
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
      ring_ = &ring;
      ring.TakeReceived(e, [this, &ring](char* data, int n) {
        // A connection whose peer is slow to read keeps its own output
        // (copied) once a bundle's worth waits: it pins a few buffers, not
        // its high-water mark's worth of them.
        if (ring.MayLend(static_cast<size_t>(n)) && Pending() < Ring::kBundleBytes) {
          lend_from_ = data;
          lend_to_ = data + n;
        }
        OnData(data, static_cast<size_t>(n));
        lend_from_ = lend_to_ = nullptr;
      });
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
  // What goes in one send, in order: out_'s rest, then queue_ unless
  // next_ (which comes before it) still waits for out_.
  int n = 0;
  if (out_off_ < out_.size()) iov_[n++] = {out_.data() + out_off_, out_.size() - out_off_};
  if (next_.empty() && (n == 0 || !single_)) {
    size_t off = queue_off_;
    for (auto p = queue_.begin(); p != queue_.end() && n < (single_ ? 1 : kIov); ++p, off = 0) {
      iov_[n++] = {const_cast<char*>(p->data()) + off, p->size() - off};
    }
  }
  if (n == 0) return;
  if (n == 1) {
    ring.Send(fd_.get(), static_cast<const char*>(iov_[0].iov_base), iov_[0].iov_len, Tag(kOpSend));
  } else {
    msg_ = msghdr{};
    msg_.msg_iov = iov_;
    msg_.msg_iovlen = static_cast<size_t>(n);
    ring.SendMsg(fd_.get(), &msg_, Tag(kOpSend));
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
  if (res > 0) {
    single_ = false;
    stats_->sent(static_cast<uint64_t>(res));
    // The send took out_'s rest first, then pieces of queue_ in order.
    size_t left = static_cast<size_t>(res);
    const size_t from_out = std::min(left, out_.size() - out_off_);
    out_off_ += from_out;
    left -= from_out;
    if (from_out > 0 && out_off_ == out_.size()) {
      out_.clear();
      out_off_ = 0;
      // As Connection: an idle connection does not keep a burst's worth.
      if (out_.capacity() > 64 * 1024) std::vector<char>().swap(out_);
    }
    while (left > 0 && !queue_.empty()) {
      const Piece& front = queue_.front();
      const size_t took = std::min(left, front.size() - queue_off_);
      queue_off_ += took;
      left -= took;
      if (queue_off_ < front.size()) break;
      queued_ -= front.size();
      queue_off_ = 0;
      if (front.buffer >= 0) ring_->Unpin(front.buffer);
      queue_.pop_front();  // a held Buffer goes back to JS from here
    }
    js_.ShutIfFlushed(fd_.get(), Pending(), &failed_);
  } else if (res == -EAGAIN) {
    // Nothing of it went (a part that went would be its result). A
    // multi-piece send (IORING_OP_SENDMSG) to a socket without room is
    // retried by the kernel on an io-wq worker, whose send on this
    // non-blocking socket fails with EAGAIN instead of waiting; the kernel
    // waits for room only for a one-piece send. So the next send is one
    // piece, and gathering resumes once it has gone.
    single_ = true;
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
