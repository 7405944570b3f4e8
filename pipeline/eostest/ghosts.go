package eostest

import (
	"bufio"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reapGhosts works around a kfake limitation that SIGKILL tests hit: a
// classic group member whose process dies while kfake is answering its
// JoinGroup or SyncGroup (the reply fails) never gets a session timer, so it
// stays in the group for good, holding its partitions, and the group never
// rebalances them away. Real Kafka schedules the session expiry whatever
// happens to the reply.
//
// Every second, members whose client connection (kfake's ClientHost) belongs
// to no live instance process of the pipeline, twice in a row, are made to
// leave the group, as the session timeout would. It only speeds up what a
// broker does to a dead member; a live member taken for a ghost (its first
// connection closed) just rejoins.
func (p *Pipeline) reapGhosts(ctx context.Context, cl *kgo.Client) {
	fc := p.w.Cluster.fake
	suspects := map[string]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		gi := fc.GroupInfo(p.Group)
		if gi == nil {
			continue
		}
		live := map[int]bool{}
		for _, in := range p.Instances() {
			for port := range socketPorts(in.Pid()) {
				live[port] = true
			}
		}
		next := map[string]bool{}
		for _, m := range gi.Members {
			_, ps, err := net.SplitHostPort(m.ClientHost)
			port, _ := strconv.Atoi(ps)
			if err != nil || live[port] {
				continue
			}
			if !suspects[m.MemberID] {
				next[m.MemberID] = true
				continue
			}
			req := kmsg.NewPtrLeaveGroupRequest()
			req.Group = p.Group
			lm := kmsg.NewLeaveGroupRequestMember()
			lm.MemberID = m.MemberID
			req.Members = append(req.Members, lm)
			resp, err := req.RequestWith(ctx, cl)
			if err == nil {
				err = kerr.ErrorForCode(resp.ErrorCode)
			}
			p.w.logf("kfake: %s member %s (client %s, assigned %v) has no live process: made it leave the group (%v)",
				p.Group, m.MemberID, m.ClientHost, m.Assignment, err)
		}
		suspects = next
	}
}

// socketPorts returns the local TCP ports of the sockets process pid holds.
func socketPorts(pid int) map[int]bool {
	ports := map[int]bool{}
	if pid <= 0 {
		return ports
	}
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return ports
	}
	inodes := map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink(fdDir + "/" + e.Name())
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || !inodes[fs[9]] {
				continue
			}
			if i := strings.LastIndexByte(fs[1], ':'); i >= 0 {
				if port, err := strconv.ParseInt(fs[1][i+1:], 16, 32); err == nil {
					ports[int(port)] = true
				}
			}
		}
		fh.Close()
	}
	return ports
}
