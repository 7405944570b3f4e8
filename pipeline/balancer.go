package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// copartitionBalancer is the group balancer of the pipeline. It assigns
// partition numbers, not topic partitions: the member that gets partition p
// gets partition p of every input topic (transactions and labels), because
// one task holds the state of p and joins p's labels into p's decisions.
// Franz-go's default cooperative-sticky balancer balances topic partitions
// one by one and may split transactions/p and labels/p between members.
//
// It is sticky, in this order of preference:
//  1. a partition stays with the member that owned it in the previous
//     generation (its card cache is warm and its Pebble state current);
//  2. else it goes to a member that has local Pebble state for it (a
//     restarted instance, whose state needs at most a catch-up from the
//     changelog instead of a full restore);
//  3. else to the member with the fewest partitions;
//
// and balanced: every member gets ⌊N/M⌋ or ⌈N/M⌉ partitions. The protocol
// is eager (a rebalance revokes everything, then assigns), which
// GroupTransactSession handles by aborting the open transaction; the
// runner parks revoked tasks and takes them back, warm, if the same
// partitions come straight back. The plan is a pure function of the members'
// join metadata, so every leader computes the same one.
type copartitionBalancer struct {
	// local returns the input partitions this instance holds local state
	// for (nil when unknown).
	local func() []int32
}

func newCopartitionBalancer(local func() []int32) kgo.GroupBalancer {
	return &copartitionBalancer{local: local}
}

const copartitionProtocol = "fraudstream-copartition-v1"

func (*copartitionBalancer) ProtocolName() string { return copartitionProtocol }
func (*copartitionBalancer) IsCooperative() bool  { return false }

// copartitionUserData is what a member tells the leader in its join
// metadata: the partition numbers it owned in the last generation and those
// it has local state for.
type copartitionUserData struct {
	owned []int32
	local []int32
}

func (u copartitionUserData) encode() []byte {
	b := []byte{1} // version
	for _, ps := range [][]int32{u.owned, u.local} {
		b = binary.AppendUvarint(b, uint64(len(ps)))
		for _, p := range ps {
			b = binary.AppendUvarint(b, uint64(p))
		}
	}
	return b
}

func decodeCopartitionUserData(b []byte) (copartitionUserData, error) {
	var u copartitionUserData
	if len(b) == 0 {
		return u, nil
	}
	if b[0] != 1 {
		return u, fmt.Errorf("unknown user data version %d", b[0])
	}
	b = b[1:]
	for _, dst := range []*[]int32{&u.owned, &u.local} {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > 1<<20 {
			return u, errors.New("corrupt user data")
		}
		b = b[k:]
		for range n {
			p, k := binary.Uvarint(b)
			if k <= 0 || p > 1<<31-1 {
				return u, errors.New("corrupt user data")
			}
			b = b[k:]
			*dst = append(*dst, int32(p))
		}
	}
	return u, nil
}

func (c *copartitionBalancer) JoinGroupMetadata(topics []string, current map[string][]int32, generation int32) []byte {
	// The partitions owned are the union over topics (they are equal
	// under this balancer; a member coming from another protocol may
	// hold some of one topic only).
	var owned []int32
	for _, ps := range current {
		owned = append(owned, ps...)
	}
	slices.Sort(owned)
	owned = slices.Compact(owned)
	var local []int32
	if c.local != nil {
		local = c.local()
	}
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = topics
	meta.UserData = copartitionUserData{owned: owned, local: local}.encode()
	meta.Generation = generation
	return meta.AppendTo(nil)
}

func (*copartitionBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (c *copartitionBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	b, err := kgo.NewConsumerBalancer(c, members)
	if err != nil {
		return nil, nil, err
	}
	return b, b.MemberTopics(), nil
}

// Balance implements kgo.ConsumerBalancerBalance.
func (c *copartitionBalancer) Balance(b *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	var claims []memberClaims
	b.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		u, err := decodeCopartitionUserData(meta.UserData)
		if err != nil {
			// A member we cannot read still gets partitions, with no
			// claims.
			u = copartitionUserData{}
		}
		claims = append(claims, memberClaims{id: m.MemberID, generation: meta.Generation, owned: u.owned, local: u.local})
	})
	// Partition numbers: the largest partition count of the topics (they
	// are equal when co-partitioned, which the runner checks at start).
	n := int32(0)
	for _, np := range topics {
		n = max(n, np)
	}
	plan := b.NewPlan()
	assign := copartitionAssign(claims, n)
	b.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		ps := assign[m.MemberID]
		for _, topic := range meta.Topics {
			np, ok := topics[topic]
			if !ok {
				continue
			}
			var tps []int32
			for _, p := range ps {
				if p < np {
					tps = append(tps, p)
				}
			}
			plan.AddPartitions(m, topic, tps)
		}
	})
	return plan
}

type memberClaims struct {
	id           string
	generation   int32
	owned, local []int32
}

// copartitionAssign maps partitions 0..n-1 to members (see
// copartitionBalancer). Members are taken in member-id order; the result
// depends only on the claims.
func copartitionAssign(members []memberClaims, n int32) map[string][]int32 {
	out := make(map[string][]int32, len(members))
	if len(members) == 0 {
		return out
	}
	members = slices.Clone(members)
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	m := len(members)
	base, extra := int(n)/m, int(n)%m
	// Quotas: base each; the extra partitions go to the members with the
	// most claims (so that fewer partitions move), ties by member id.
	quota := make([]int, m)
	order := make([]int, m)
	for i := range members {
		quota[i] = base
		order[i] = i
	}
	claimCount := func(i int) int { return len(members[i].owned) + len(members[i].local) }
	sort.SliceStable(order, func(a, b int) bool { return claimCount(order[a]) > claimCount(order[b]) })
	for _, i := range order[:extra] {
		quota[i]++
	}

	owner := make([]int, n) // member index, -1 = unassigned
	for p := range owner {
		owner[p] = -1
	}
	count := make([]int, m)
	take := func(i int, p int32) {
		if p < 0 || p >= n || owner[p] >= 0 || count[i] >= quota[i] {
			return
		}
		owner[p] = i
		count[i]++
	}
	// 1. Previous owners. Two members claiming the same partition (one
	// was dropped and rejoined while the other took it) is settled by
	// the newer generation.
	prev := make([]int, n)
	for p := range prev {
		prev[p] = -1
	}
	for i, mc := range members {
		for _, p := range mc.owned {
			if p < 0 || p >= n {
				continue
			}
			if j := prev[p]; j < 0 || mc.generation > members[j].generation {
				prev[p] = i
			}
		}
	}
	for i, mc := range members {
		for _, p := range mc.owned {
			if p >= 0 && p < n && prev[p] == i {
				take(i, p)
			}
		}
	}
	// 2. Local state.
	for i, mc := range members {
		for _, p := range mc.local {
			take(i, p)
		}
	}
	// 3. The rest, to the member furthest below its quota.
	for p := int32(0); p < n; p++ {
		if owner[p] >= 0 {
			continue
		}
		best := -1
		for i := range members {
			if count[i] < quota[i] && (best < 0 || quota[i]-count[i] > quota[best]-count[best]) {
				best = i
			}
		}
		take(best, p)
	}
	for p := int32(0); p < n; p++ {
		id := members[owner[p]].id
		out[id] = append(out[id], p)
	}
	return out
}

// localPartitions returns the input partitions with state in the local
// Pebble store (for the balancer's join metadata).
func (r *Runner) localPartitions() []int32 {
	st := r.env.store
	if st == nil {
		return nil
	}
	var out []int32
	for p := int32(0); p < r.partitions; p++ {
		if _, have, err := st.loadMeta(partitionPrefix(r.cfg.Topics.Transactions, p)); err == nil && have {
			out = append(out, p)
		}
	}
	return out
}
