package synth

// Two binary min-heaps with concrete element types: container/heap boxes
// every element in an interface (one allocation per Push) and calls Less
// through it, which the generator's budget (≈1 µs per event) cannot afford.
//
// Both orders are total (ties broken by card index and stream, or by a
// sequence number), so the sequence of pops never depends on anything but the
// pushes: that is what makes the generator deterministic.

// eventRef is a card's next event: of its legitimate stream, or of the fraud
// episode running on it. A card has at most one entry per stream in the heap.
type eventRef struct {
	t     int64 // event time, Unix ms
	card  int32
	fraud bool
}

func (a eventRef) before(b eventRef) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	if a.card != b.card {
		return a.card < b.card
	}
	return !a.fraud && b.fraud
}

type eventHeap []eventRef

func (h *eventHeap) push(e eventRef) {
	s := append(*h, e)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].before(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
	*h = s
}

func (h *eventHeap) pop() eventRef {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	*h = s[:n]
	h.down()
	return top
}

// replaceTop replaces the minimum with e and restores the heap order.
func (h *eventHeap) replaceTop(e eventRef) {
	(*h)[0] = e
	h.down()
}

// down sifts the element at the root down to its place.
func (h *eventHeap) down() {
	s := *h
	n := len(s)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].before(s[l]) {
			m = r
		}
		if !s[m].before(s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
}

// pending is an item waiting for its arrival time: a transaction (slot ≥ 0,
// its body in Generator.slots) or a label (slot < 0).
type pending struct {
	arrival int64  // Unix ms: Kafka record timestamp; label_time for labels
	seq     uint64 // creation order; unique, breaks ties
	txID    string // labels: the labelled transaction's id
	slot    int32
	card    int32
	fraud   bool
	pattern pattern
}

func (a *pending) before(b *pending) bool {
	if a.arrival != b.arrival {
		return a.arrival < b.arrival
	}
	return a.seq < b.seq
}

type pendingHeap []pending

func (h *pendingHeap) push(e pending) {
	s := append(*h, e)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].before(&s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
	*h = s
}

func (h *pendingHeap) pop() pending {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = pending{} // drop the string reference
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].before(&s[l]) {
			m = r
		}
		if !s[m].before(&s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
