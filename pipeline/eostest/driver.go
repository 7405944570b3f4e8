package eostest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// progress is a pipeline's committed input offsets, summed.
type progress struct {
	committed map[int32]int64
	sum       int64
}

func (w *World) progress(p *Pipeline) (progress, error) {
	c, err := p.Committed(w.Ctx)
	if err != nil {
		return progress{}, err
	}
	pr := progress{committed: c}
	for _, o := range c {
		pr.sum += o
	}
	return pr, nil
}

// Sleep waits for d, failing the test at once if an instance of p exits on
// its own or the test's time is up.
func (w *World) Sleep(p *Pipeline, d time.Duration) {
	w.T.Helper()
	select {
	case name := <-p.Unexpected():
		w.T.Fatalf("%s: instance %s exited on its own (its log tail is above)", p.Name, name)
	case <-w.Ctx.Done():
		w.T.Fatalf("%s: out of time: %v", p.Name, w.Ctx.Err())
	case <-time.After(d):
	}
}

// WaitProgress waits until p has committed at least fraction of total input
// records (stall: fail after that long without progress).
func (w *World) WaitProgress(p *Pipeline, total int, fraction float64, stall time.Duration) {
	w.T.Helper()
	want := int64(float64(total) * fraction)
	last, lastChange := int64(-1), time.Now()
	for {
		pr, err := w.progress(p)
		if err == nil {
			if pr.sum >= want {
				w.logf("%s: %d of %d input records committed (≥ %.1f%%)", p.Name, pr.sum, total, 100*fraction)
				return
			}
			if pr.sum != last {
				last, lastChange = pr.sum, time.Now()
			}
		}
		if time.Since(lastChange) > stall {
			st := w.status(p, pr)
			w.T.Fatalf("%s: no progress for %v at %d of %d committed records\n%s%s", p.Name, stall, last, total, st, dumpAll(p))
		}
		w.Sleep(p, 200*time.Millisecond)
	}
}

// WaitDone waits until feed (if not nil) has produced everything and p has
// committed every input record (offsets of the whole input topic), then
// returns how long that took. It fails the test after stall without
// progress, or if an instance exits on its own.
func (w *World) WaitDone(p *Pipeline, feed *Feed, stall time.Duration) time.Duration {
	w.T.Helper()
	start := time.Now()
	if feed == nil && w.Input == nil {
		w.ReadInput()
	}
	feedDone := feed == nil
	last, lastChange, lastLog := int64(-1), time.Now(), time.Now()
	for {
		if !feedDone {
			select {
			case <-feed.Done():
				if err := feed.Err(); err != nil {
					w.T.Fatalf("feed: %v", err)
				}
				w.logf("feed: %d records produced in %.1fs", feed.Total, feed.Took.Seconds())
				w.ReadInput()
				feedDone = true
			default:
			}
		}
		pr, err := w.progress(p)
		if err != nil {
			if !errors.Is(err, kerr.GroupIDNotFound) { // not joined yet
				w.logf("%s: fetch committed offsets: %v", p.Name, err)
			}
		} else {
			if feedDone {
				done := true
				for part, end := range w.Input.End {
					if pr.committed[part] < end {
						done = false
						break
					}
				}
				if done {
					took := time.Since(start)
					w.logf("%s: all %d input records committed (waited %.1fs)", p.Name, w.Input.Total(), took.Seconds())
					return took
				}
			}
			if pr.sum != last {
				last, lastChange = pr.sum, time.Now()
			}
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			total := "?"
			if feedDone {
				total = fmt.Sprint(w.Input.Total())
			} else if feed != nil {
				total = fmt.Sprintf("%d (feed at %d)", feed.Total, feed.Sent.Load())
			}
			w.logf("%s: %d of %s input records committed; running: %s", p.Name, last, total, running(p))
		}
		if time.Since(lastChange) > stall && feedDone {
			st := w.status(p, pr)
			w.T.Fatalf("%s: no progress for %v\n%s%s", p.Name, stall, st, dumpAll(p))
		}
		w.Sleep(p, 250*time.Millisecond)
	}
}

// WaitGroupStable waits until p's consumer group is Stable with exactly
// one member per running instance: no crashed member is still awaiting its
// session timeout and no rebalance is in flight. It fails the test, with a
// goroutine dump of every instance, if that takes longer than timeout.
func (w *World) WaitGroupStable(p *Pipeline, timeout time.Duration) {
	w.T.Helper()
	if state, members, want := w.GroupStable(p, timeout); state != "" {
		st := w.status(p, progress{})
		w.T.Fatalf("%s: group not stable after %v: state %s, %d members, %d instances running\n%s%s",
			p.Name, timeout, state, members, want, st, dumpAll(p))
	}
}

// GroupStable is WaitGroupStable without failing: it returns "" once the
// group is stable, else (after timeout) the group's state, its number of
// members and the number of running instances.
func (w *World) GroupStable(p *Pipeline, timeout time.Duration) (state string, members, want int) {
	w.T.Helper()
	deadline := time.Now().Add(timeout)
	start := time.Now()
	for {
		want = 0
		for _, in := range p.Instances() {
			if in.Running() {
				want++
			}
		}
		dg, err := w.Admin.DescribeGroups(w.Ctx, p.Group)
		state, members = "?", -1
		if err == nil {
			if g, ok := dg[p.Group]; ok && g.Err == nil {
				state, members = g.State, len(g.Members)
			}
		}
		if state == "Stable" && members == want {
			var ms []string
			for _, m := range dg[p.Group].Members {
				ms = append(ms, m.MemberID+"@"+m.ClientHost)
			}
			w.logf("%s: group stable after %.1fs with members %v", p.Name, time.Since(start).Seconds(), ms)
			return "", members, want
		}
		if time.Now().After(deadline) {
			return state, members, want
		}
		w.Sleep(p, 250*time.Millisecond)
	}
}

func running(p *Pipeline) string {
	var s []string
	for _, in := range p.Instances() {
		if in.Running() {
			s = append(s, in.Name)
		}
	}
	return strings.Join(s, ",")
}

// status describes where a stuck pipeline is: per partition committed vs
// end offsets, and each instance's state and log tail.
func (w *World) status(p *Pipeline, pr progress) string {
	var b strings.Builder
	if w.Input != nil {
		var behind []string
		for part, end := range w.Input.End {
			if c := pr.committed[part]; c < end {
				behind = append(behind, fmt.Sprintf("p%d %d/%d", part, c, end))
			}
		}
		slices.Sort(behind)
		fmt.Fprintf(&b, "partitions behind: %s\n", strings.Join(behind, " "))
	}
	if txns, err := w.Admin.DescribeTransactions(w.Ctx); err == nil {
		for _, d := range txns.Sorted() {
			if strings.HasPrefix(d.TxnID, p.Group+"-") {
				fmt.Fprintf(&b, "transactional id %s: state %s, producer %d epoch %d, started %s, partitions %v\n",
					d.TxnID, d.State, d.ProducerID, d.ProducerEpoch, time.UnixMilli(d.StartTimestamp).Format("15:04:05.000"), d.Topics)
			}
		}
	} else {
		fmt.Fprintf(&b, "describe transactions: %v\n", err)
	}
	if fc := w.Cluster.fake; fc != nil {
		for _, topic := range []string{w.InputTopic, p.Decisions, p.DLQ, p.Changelog} {
			var open []string
			for _, pi := range fc.PartitionInfos(topic) {
				if pi.LastStableOffset != pi.HighWatermark {
					open = append(open, fmt.Sprintf("p%d LSO %d < HWM %d", pi.Partition, pi.LastStableOffset, pi.HighWatermark))
				}
			}
			if len(open) > 0 {
				fmt.Fprintf(&b, "kfake %s: %s\n", topic, strings.Join(open, ", "))
			}
		}
		if gi := fc.GroupInfo(p.Group); gi != nil {
			fmt.Fprintf(&b, "kfake group %s: state %s, generation %d, %d members:\n", gi.Group, gi.State, gi.Epoch, len(gi.Members))
			for _, m := range gi.Members {
				fmt.Fprintf(&b, "  member %s host %s assigned %v\n", m.MemberID, m.ClientHost, m.Assignment)
			}
		}
	}
	for _, in := range p.Instances() {
		fmt.Fprintf(&b, "instance %s: running=%v starts=%d kills=%d owned=%v, tail of %s:\n%s\n",
			in.Name, in.Running(), in.Starts, in.Kills, Owned(in.LastLog()), in.LastLog(), tail(in.LastLog(), 12))
	}
	return b.String()
}

// dumpAll makes every running instance of p write its goroutine stacks to
// its log (SIGQUIT) and says where they are.
func dumpAll(p *Pipeline) string {
	var b strings.Builder
	for _, in := range p.Instances() {
		if in.Running() {
			in.Dump()
			fmt.Fprintf(&b, "goroutine dump of %s (SIGQUIT): %s\n", in.Name, in.LastLog())
		}
	}
	return b.String()
}
