package pipeline

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// balance runs the balancer the way a group leader does: from the members'
// join metadata to the plan, as member → topic → partitions.
func balance(t *testing.T, members map[string]copartitionUserData, gens map[string]int32, topics map[string]int32) map[string]map[string][]int32 {
	t.Helper()
	var names []string
	for n := range topics {
		names = append(names, n)
	}
	slices.Sort(names)
	var jm []kmsg.JoinGroupResponseMember
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		u := members[id]
		bal := newCopartitionBalancer(func() []int32 { return u.local })
		cur := map[string][]int32{}
		for _, n := range names {
			cur[n] = u.owned
		}
		m := kmsg.NewJoinGroupResponseMember()
		m.MemberID = id
		m.ProtocolMetadata = bal.JoinGroupMetadata(names, cur, gens[id])
		jm = append(jm, m)
	}
	mb, interests, err := newCopartitionBalancer(nil).MemberBalancer(jm)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, ok := interests[n]; !ok {
			t.Fatalf("topic %s missing from the members' interests %v", n, interests)
		}
	}
	into, err := mb.(kgo.GroupMemberBalancerOrError).BalanceOrError(topics)
	if err != nil {
		t.Fatal(err)
	}
	plan, ok := into.(*kgo.BalancePlan)
	if !ok {
		t.Fatalf("balance returned %T", into)
	}
	out := plan.AsMemberIDMap()
	// The plan must survive the sync round trip.
	for _, a := range plan.IntoSyncAssignment() {
		got, err := newCopartitionBalancer(nil).ParseSyncAssignment(a.MemberAssignment)
		if err != nil {
			t.Fatal(err)
		}
		want := out[a.MemberID]
		for topic, ps := range want {
			g := slices.Clone(got[topic])
			slices.Sort(g)
			w := slices.Clone(ps)
			slices.Sort(w)
			if !slices.Equal(g, w) {
				t.Fatalf("sync assignment of %s/%s: got %v, want %v", a.MemberID, topic, g, w)
			}
		}
	}
	return out
}

// checkPlan asserts the balancer's invariants: every partition of every
// topic assigned exactly once, partition p of all topics to the same member,
// and counts within one of each other.
func checkPlan(t *testing.T, plan map[string]map[string][]int32, topics map[string]int32, nMembers int) map[string][]int32 {
	t.Helper()
	owner := map[string]map[int32]string{}
	byMember := map[string][]int32{}
	for member, tps := range plan {
		for topic, ps := range tps {
			for _, p := range ps {
				if owner[topic] == nil {
					owner[topic] = map[int32]string{}
				}
				if o, dup := owner[topic][p]; dup {
					t.Fatalf("%s/%d assigned to %s and %s", topic, p, o, member)
				}
				owner[topic][p] = member
			}
		}
	}
	var first string
	for topic, n := range topics {
		if first == "" {
			first = topic
		}
		for p := int32(0); p < n; p++ {
			if _, ok := owner[topic][p]; !ok {
				t.Fatalf("%s/%d not assigned", topic, p)
			}
		}
	}
	for topic := range topics {
		for p, m := range owner[topic] {
			if owner[first][p] != m {
				t.Fatalf("not co-partitioned: %s/%d → %s but %s/%d → %s", first, p, owner[first][p], topic, p, m)
			}
		}
	}
	for p, m := range owner[first] {
		byMember[m] = append(byMember[m], p)
	}
	lo, hi := int(topics[first]), 0
	for _, ps := range byMember {
		slices.Sort(ps)
		lo, hi = min(lo, len(ps)), max(hi, len(ps))
	}
	if len(byMember) < nMembers {
		lo = 0
	}
	if hi-lo > 1 {
		t.Fatalf("unbalanced: %d to %d partitions per member: %v", lo, hi, byMember)
	}
	return byMember
}

var twoTopics = map[string]int32{"transactions": 24, "labels": 24}

func TestCopartitionBalancerSticky(t *testing.T) {
	// Three fresh members: balanced and co-partitioned.
	members := map[string]copartitionUserData{"a": {}, "b": {}, "c": {}}
	gens := map[string]int32{}
	got := checkPlan(t, balance(t, members, gens, twoTopics), twoTopics, 3)
	for id, ps := range got {
		if len(ps) != 8 {
			t.Fatalf("%s got %d partitions, want 8", id, len(ps))
		}
	}

	// c leaves: a and b keep every partition they had and share c's.
	gens = map[string]int32{"a": 1, "b": 1}
	members = map[string]copartitionUserData{"a": {owned: got["a"]}, "b": {owned: got["b"]}}
	after := checkPlan(t, balance(t, members, gens, twoTopics), twoTopics, 2)
	for _, id := range []string{"a", "b"} {
		for _, p := range got[id] {
			if !slices.Contains(after[id], p) {
				t.Errorf("%s lost partition %d when c left: %v → %v", id, p, got[id], after[id])
			}
		}
	}

	// d joins: only the 8 partitions it needs move, all to d.
	gens = map[string]int32{"a": 2, "b": 2, "d": 0}
	members = map[string]copartitionUserData{"a": {owned: after["a"]}, "b": {owned: after["b"]}, "d": {}}
	again := checkPlan(t, balance(t, members, gens, twoTopics), twoTopics, 3)
	moved := 0
	for _, id := range []string{"a", "b"} {
		for _, p := range again[id] {
			if !slices.Contains(after[id], p) {
				t.Errorf("%s gained partition %d when d joined", id, p)
			}
		}
		moved += len(after[id]) - len(again[id])
	}
	if moved != 8 || len(again["d"]) != 8 {
		t.Errorf("d joined: %d partitions moved, d has %v; want 8 moved to d", moved, again["d"])
	}
}

func TestCopartitionBalancerClaims(t *testing.T) {
	topics := map[string]int32{"transactions": 6, "labels": 6}
	// a and b both claim partition 0 (a was dropped, b took it over in a
	// newer generation, then a rejoined): the newer generation keeps it.
	members := map[string]copartitionUserData{"a": {owned: []int32{0, 1, 2}}, "b": {owned: []int32{0, 3, 4}}}
	got := checkPlan(t, balance(t, members, map[string]int32{"a": 3, "b": 5}, topics), topics, 2)
	if !slices.Contains(got["b"], 0) {
		t.Errorf("partition 0 should stay with b (newer generation): %v", got)
	}
	// A cold restart (nobody owns anything): each member gets the
	// partitions it has local state for.
	members = map[string]copartitionUserData{"a": {local: []int32{3, 4, 5}}, "b": {local: []int32{0, 1, 2}}}
	got = checkPlan(t, balance(t, members, nil, topics), topics, 2)
	if !reflect.DeepEqual(got["a"], []int32{3, 4, 5}) || !reflect.DeepEqual(got["b"], []int32{0, 1, 2}) {
		t.Errorf("local state not honoured: %v", got)
	}
	// Previous ownership beats local state.
	members = map[string]copartitionUserData{"a": {local: []int32{0, 1, 2}}, "b": {owned: []int32{0, 1, 2}}}
	got = checkPlan(t, balance(t, members, map[string]int32{"b": 1}, topics), topics, 2)
	if !reflect.DeepEqual(got["b"], []int32{0, 1, 2}) {
		t.Errorf("owner should keep its partitions over local state: %v", got)
	}
	// Claims beyond the quota or beyond the partition count are ignored.
	members = map[string]copartitionUserData{"a": {owned: []int32{0, 1, 2, 3, 4, 5, 9}}, "b": {local: []int32{-1, 7}}}
	checkPlan(t, balance(t, members, map[string]int32{"a": 1}, topics), topics, 2)
}

// TestCopartitionBalancerRandom: random members and claims; the invariants
// hold and the plan does not depend on the order members are listed in.
func TestCopartitionBalancerRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 300 {
		n := int32(1 + rng.IntN(40))
		m := 1 + rng.IntN(12)
		var claims []memberClaims
		for j := range m {
			mc := memberClaims{id: fmt.Sprintf("m%02d", j), generation: int32(rng.IntN(5))}
			for p := int32(0); p < n; p++ {
				switch rng.IntN(6) {
				case 0:
					mc.owned = append(mc.owned, p)
				case 1:
					mc.local = append(mc.local, p)
				}
			}
			claims = append(claims, mc)
		}
		a := copartitionAssign(claims, n)
		rev := slices.Clone(claims)
		slices.Reverse(rev)
		if b := copartitionAssign(rev, n); !reflect.DeepEqual(a, b) {
			t.Fatalf("case %d: plan depends on member order:\n%v\n%v", i, a, b)
		}
		plan := map[string]map[string][]int32{}
		for id, ps := range a {
			plan[id] = map[string][]int32{"transactions": ps}
		}
		checkPlan(t, plan, map[string]int32{"transactions": n}, m)
	}
}

func TestCopartitionUserDataRoundTrip(t *testing.T) {
	u := copartitionUserData{owned: []int32{0, 5, 300}, local: []int32{7}}
	got, err := decodeCopartitionUserData(u.encode())
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{{2}, {1, 5}, {1, 1}} {
		if _, err := decodeCopartitionUserData(bad); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}
