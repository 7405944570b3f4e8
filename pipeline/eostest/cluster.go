package eostest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterOpts says which cluster a test gets.
type ClusterOpts struct {
	// Brokers is 1 or 3.
	Brokers int
	// Real starts Apache Kafka with deploy/kafka/kafka.sh instead of kfake.
	Real bool
	// SessionTimeout (kfake only), when > 0, caps the session timeout of
	// every classic consumer-group member, and the rebalance timeout at 60%
	// of it. The test pipelines ask for a 10 s session and franz-go's
	// default 60 s rebalance timeout (proc.go), so a SIGKILLed member
	// blocks its partitions (and, in kfake, the whole rebalance) for up to
	// a minute before the coordinator gives up on it; real Kafka cannot
	// shorten that from the broker side, kfake can, which keeps the kfake
	// variants of the crash tests fast. It changes when a dead member is
	// declared dead, not what happens then.
	//
	// The rebalance timeout must stay below the session timeout minus the
	// heartbeat interval (3 s): kfake expires a member whose JoinGroup is
	// parked in a rebalance when its session timer fires, and drops the
	// parked request without an answer, so the client waits for its own
	// request timeout (70 s). Kafka does not expire members awaiting a
	// join.
	SessionTimeout time.Duration
	// TxnTimeout (kfake only), when > 0, caps the transaction timeout the
	// instances ask for (franz-go's default is 40 s). A SIGKILLed instance
	// can leave a transaction open whose pending offset commits block
	// every OffsetFetch of those partitions (require_stable); its restarted
	// successor fences it only when it first produces, which may need those
	// very offsets, so the group waits for the broker to abort the
	// transaction on its timeout. Shortening it keeps the kfake variants
	// fast; with real Kafka the full wait happens (and is logged).
	TxnTimeout time.Duration
}

// Cluster is the Kafka cluster of one test.
type Cluster struct {
	Brokers []string
	Real    bool
	N       int
	Started time.Time // when the brokers were started

	t      testing.TB
	fake   *kfake.Cluster
	dir    string // kafka.sh cluster directory
	script string
}

// RepoRoot returns the module root (the tests run in pipeline/eostest).
func RepoRoot() string {
	for _, d := range []string{"../..", ".", ".."} {
		abs, err := filepath.Abs(d)
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(abs, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/fraudstream/fraudstream\n")) {
			return abs
		}
	}
	panic("eostest: cannot find the module root (run the tests from pipeline/eostest)")
}

// StartCluster starts a cluster and registers its shutdown with t.Cleanup.
func StartCluster(ctx context.Context, t testing.TB, o ClusterOpts) *Cluster {
	t.Helper()
	if o.Brokers != 1 && o.Brokers != 3 {
		t.Fatalf("StartCluster: %d brokers, want 1 or 3", o.Brokers)
	}
	c := &Cluster{Real: o.Real, N: o.Brokers, t: t}
	if !o.Real {
		ports, err := freePorts(o.Brokers)
		if err != nil {
			t.Fatal(err)
		}
		opts := []kfake.Opt{kfake.NumBrokers(o.Brokers), kfake.Ports(ports...)}
		if o.SessionTimeout > 0 {
			opts = append(opts, kfake.GroupMinSessionTimeout(min(o.SessionTimeout, 6*time.Second)))
		}
		fc, err := kfake.NewCluster(opts...)
		if err != nil {
			t.Fatalf("kfake: %v", err)
		}
		if st := int32(o.SessionTimeout.Milliseconds()); st > 0 {
			rt := st * 6 / 10
			fc.ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
				if jg, ok := req.(*kmsg.JoinGroupRequest); ok {
					jg.SessionTimeoutMillis = min(jg.SessionTimeoutMillis, st)
					jg.RebalanceTimeoutMillis = min(jg.RebalanceTimeoutMillis, rt)
				}
				return nil, nil, false // observe only: kfake handles the (capped) request
			})
		}
		if tt := int32(o.TxnTimeout.Milliseconds()); tt > 0 {
			fc.ControlKey(int16(kmsg.InitProducerID), func(req kmsg.Request) (kmsg.Response, error, bool) {
				if ip, ok := req.(*kmsg.InitProducerIDRequest); ok && ip.TransactionalID != nil {
					ip.TransactionTimeoutMillis = min(ip.TransactionTimeoutMillis, tt)
				}
				return nil, nil, false
			})
		}
		c.fake = fc
		c.Started = time.Now()
		c.Brokers = fc.ListenAddrs()
		t.Cleanup(fc.Close)
		t.Logf("kfake cluster: %d broker(s) at %v (caps: session timeout %v, transaction timeout %v)", o.Brokers, c.Brokers, o.SessionTimeout, o.TxnTimeout)
		return c
	}

	c.script = filepath.Join(RepoRoot(), "deploy", "kafka", "kafka.sh")
	c.dir = filepath.Join(WorkDir(t), "kafka")
	base, err := freeKafkaBasePort(o.Brokers)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Started = start
	out, err := c.run(ctx, "start", "--brokers", strconv.Itoa(o.Brokers), "--base-port", strconv.Itoa(base), "--dir", c.dir, "--timeout", "150")
	// Register the stop even if start failed half-way: kafka.sh stops
	// what it launched on a timeout, but not on every error path.
	t.Cleanup(c.stopAll)
	if err != nil {
		t.Fatalf("kafka.sh start: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "BOOTSTRAP="); ok {
			c.Brokers = strings.Split(strings.TrimSpace(v), ",")
		}
	}
	if len(c.Brokers) == 0 {
		t.Fatalf("kafka.sh start printed no BOOTSTRAP line:\n%s", out)
	}
	t.Logf("Apache Kafka: %d broker(s) at %v, ready in %.1fs (dir %s)", o.Brokers, c.Brokers, time.Since(start).Seconds(), c.dir)
	return c
}

// run runs kafka.sh; stderr (progress) goes to the test log.
func (c *Cluster) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{c.script}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		c.t.Logf("  %s", sc.Text())
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("kafka.sh %s: %w", strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}

func (c *Cluster) stopAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := c.run(ctx, "stop", "--dir", c.dir); err != nil {
		c.t.Errorf("stopping Kafka: %v", err)
	}
	// No broker may outlive the test.
	out, _ := c.run(ctx, "status", "--dir", c.dir)
	if !strings.Contains(out, "RUNNING=0/") {
		c.t.Errorf("Kafka brokers still running after stop: %s", out)
	}
}

// StopBroker stops broker node i (1-based; SIGTERM, SIGKILL after 30 s).
func (c *Cluster) StopBroker(ctx context.Context, node int) error {
	if !c.Real {
		return errors.New("StopBroker needs real Kafka")
	}
	_, err := c.run(ctx, "stop", "--dir", c.dir, "--node", strconv.Itoa(node))
	return err
}

// RestartBroker starts node i again and waits until it serves.
func (c *Cluster) RestartBroker(ctx context.Context, node int) error {
	if !c.Real {
		return errors.New("RestartBroker needs real Kafka")
	}
	_, err := c.run(ctx, "restart-node", "--dir", c.dir, "--node", strconv.Itoa(node), "--timeout", "150")
	return err
}

// NodeOf returns the kafka.sh node number (1..N) of a broker id. kafka.sh
// gives node i the broker id i.
func (c *Cluster) NodeOf(brokerID int32) int { return int(brokerID) }

// Client returns a franz-go client for admin work and reading; it is closed
// at cleanup.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Fake returns the kfake cluster, or nil with real Kafka.
func (c *Cluster) Fake() *kfake.Cluster { return c.fake }

// CreateTopic creates a topic (replication factor -1: the broker default)
// with the given topic configs.
func (c *Cluster) CreateTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kadm.StringPtr(v)
	}
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, rf, cfg, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	// Wait until every partition has a leader in the metadata.
	for ctx.Err() == nil {
		md, err := kadm.NewClient(cl).Metadata(ctx, name)
		if err == nil {
			if td, ok := md.Topics[name]; ok && td.Err == nil && len(td.Partitions) == int(partitions) {
				ready := true
				for _, p := range td.Partitions {
					if p.Leader < 0 || p.Err != nil {
						ready = false
					}
				}
				if ready {
					return nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ctx.Err()
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freeKafkaBasePort picks a kafka.sh base port whose broker ports (base..)
// and controller ports (base+100..) are all free, away from kafka.sh's
// default 19092 that a developer may be running.
func freeKafkaBasePort(brokers int) (int, error) {
	for base := 29092 + 300*(os.Getpid()%40); base < 60000; base += 300 {
		ok := true
		for i := range brokers {
			if !portFree(base+i) || !portFree(base+100+i) {
				ok = false
				break
			}
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no free base port for kafka.sh")
}
