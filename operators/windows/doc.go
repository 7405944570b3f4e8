// Package windows keeps exact per-card rolling aggregates of transaction
// amounts over event-time windows, and the card's previous event.
//
// Start with [CardState.Observe]: for each transaction of one card it returns,
// for every configured window w (in [Config.WindowsMillis] order), the count,
// mean and sample standard deviation (ddof=1) of the amounts of that card's
// events with event_time in (t − w, t], the current event included; plus the
// card's previous event ([PrevEvent]) and whether the merchant was seen within
// the longest window ([Result.MerchantSeen]).
//
// A card's state persists whole ([CardState.AppendBinary],
// [CardState.UnmarshalBinary]) or incrementally: a small head
// ([CardState.AppendHead]) plus one record per retained event keyed by its
// sequence number ([CardState.Changes] says which records to write and
// delete; [CardState.Restore] reassembles them), so a batch writes what
// changed rather than the card's whole history. Either way a restored state
// continues bit-identically. The package has no Kafka, Pebble or Prometheus in
// it: the pipeline owns one CardState per card and decides where the bytes go.
//
// # Semantics
//
// In-order events (per card, event_time ≥ the card's newest event_time) get
// exactly what pandas 3.1.1 computes for
//
//	df.set_index("event_time").groupby("card_id")["amount"].rolling("7d")
//
// with .count(), .mean() and .std(): the same window bounds (closed="right",
// so a window holds the events at the same millisecond that arrived earlier
// and the event itself, but not those arriving later, and an event exactly at
// t − w is out), and the same floating-point algorithms in the same order
// (pandas/_libs/window/aggregations.pyx roll_mean and roll_var, see
// pandas.go), so the results are bit-identical to pandas on x86-64, not merely
// close (TestPandasParity replays a stream pandas computed).
// min_periods is 1: the mean of one amount is that amount; the std of fewer
// than two amounts is NaN.
//
// Late events (event_time < the card's newest) are exact as well, under the
// partition-order rule of the design: a late event's windows hold the card's
// events that arrived before it with event_time in (t − w, t], plus itself
// (computed afresh from the retained events, O(n)); afterwards it counts in
// the windows of every later event it falls into. An event with
// t ≤ newest − (longest window + AllowedLatenessMillis) is rejected with
// [ErrTooLate] and leaves the state unchanged.
//
// MerchantSeen compares hashes literally: two events without a merchant
// (hash 0) count as the same merchant; the feature code decides what an
// unknown merchant means.
//
// # Accuracy
//
// Being pandas' algorithm, the results carry pandas' rounding, not the exact
// values: the mean is within ~1e-13 of the window's mean |amount| (Kahan
// sums; worst measured against math/big: 7e-14); the std is
// within 1e-9 relative for ordinary amounts, but updating Welford loses
// digits when the spread is tiny against the amounts (worst measured for
// 999,999.90–1,000,000.00: 6e-6 relative, where a naive sum of squares has no
// correct digit) and can leave a tiny non-zero std for equal amounts after
// very different ones left (pandas 3.x does the same; 1.4–2.x had a rule
// returning 0). The tests check the exact values (math/big) against that
// error bound. A late event's windows are computed afresh (as pandas would for
// a new window); its addition to the running windows is a Welford update out
// of time order, so later events may differ in the last bits from a pandas
// run over the time-sorted data — late events are outside pandas' model
// anyway.
//
// # Invariants
//
//   - events[head:] is sorted by event_time; among equal times, by arrival,
//     which is the order of the events' sequence numbers (Seq counts the
//     card's accepted events), so a store can return them in any order.
//   - For each window w, the running state covers exactly events[front_w:], the
//     window of the card's newest event: the events with
//     event_time > newest − w. Its count equals len(events) − front_w.
//   - Retained are the events with event_time > newest − (2 × longest window +
//     allowed lateness): every window of an acceptable late event
//     (t > newest − longest − lateness) is then complete. The newest pruned
//     event is kept aside so that a late event's previous event is exact too.
//   - Between calls no window is flagged numerically unstable (pandas
//     recomputes such a window at once), so the persisted running state is the
//     whole state: a card restored from bytes continues bit-identically.
//
// # Cost
//
// In-order events cost amortised O(1) per window (one front index per window,
// Welford/Kahan updates; pandas' recompute after catastrophic cancellation is
// O(window) but rare) and allocate nothing in steady state. Late events cost
// O(retained events). MerchantSeen scans the longest window while it holds at
// most 128 events and keeps a merchant → count index above that.
//
// A CardState is not safe for concurrent use; the pipeline's partition task
// is single-threaded.
package windows
