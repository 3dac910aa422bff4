// The JS-handler bridge's wire format, as native/js/bridge_wrap.cc reads and
// writes it: a batch's meta array (loop -> JS) holds EVENT_STRIDE numbers
// per event (kind, fd, generation, a, b); jsOps()'s array (JS -> loops)
// OP_STRIDE per op (loop, fd, generation, kind, consumed, index, notify),
// the kinds OpKind (connection.ts). The addon exports its own (binding.wire)
// and test/wire.test.ts holds these against it; the addon throws on an op
// kind it does not know.

/** Numbers per event in a batch's meta array. */
export const EVENT_STRIDE = 5;
/** Numbers per op in jsOps()'s array. */
export const OP_STRIDE = 7;

/** The event kinds of a batch. */
export const EventKind = {
  opened: 0,
  data: 1,
  ended: 2,
  drained: 4,
  closed: 5,
  shut: 6,
  datagram: 7,
} as const;
