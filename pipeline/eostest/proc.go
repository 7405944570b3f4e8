package eostest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Pipeline is one deployment of the pipeline: a consumer group with its own
// output topics, run as `fraudstream run` processes.
type Pipeline struct {
	Name      string
	Group     string
	Decisions string
	DLQ       string
	Changelog string

	w          *World
	configPath string
	mu         sync.Mutex
	instances  map[string]*Instance
	unexpected chan string // names of instances that exited on their own
}

// PipelineOpt configures NewPipeline.
type PipelineOpt func(*pipelineOpts)

type pipelineOpts struct{ runnerDLQ, noReaper bool }

// RunnerCreatesDLQ leaves the creation of the DLQ topic to the pipeline
// (broker default configs) instead of creating it with retention.ms=-1.
func RunnerCreatesDLQ() PipelineOpt { return func(o *pipelineOpts) { o.runnerDLQ = true } }

// NoGhostReaper keeps kfake's group membership as kfake manages it: dead
// members are not made to leave (see reapGhosts).
func NoGhostReaper() PipelineOpt { return func(o *pipelineOpts) { o.noReaper = true } }

// NewPipeline writes the pipeline's config file and creates its DLQ topic
// with unlimited time retention, as an operator would for a history whose
// record timestamps are older than the broker's retention: dead letters keep
// their input's timestamp, and the default 7 days would delete them (see
// TestDeadLetterRetention). The pipeline creates its other output topics.
// Instances are added with Instance.
func (w *World) NewPipeline(name string, opts ...PipelineOpt) *Pipeline {
	w.T.Helper()
	var o pipelineOpts
	for _, f := range opts {
		f(&o)
	}
	p := &Pipeline{Name: name, Group: "g-" + name, Decisions: "decisions-" + name, DLQ: "dlq-" + name,
		Changelog: "changelog-" + name, w: w, instances: map[string]*Instance{}, unexpected: make(chan string, 64)}
	p.configPath = filepath.Join(w.Dir, name+".yaml")
	// Topic names and the replication factor have no flags: they come from
	// the config file; everything else is passed as flags. metrics.addr ""
	// disables the HTTP endpoint (an empty --metrics-addr flag cannot: it
	// means "not set").
	cfg := fmt.Sprintf(`# eostest pipeline %s
topics:
  transactions: %s
  labels: ""
  decisions: %s
  dlq: %s
  changelog: %s
replication_factor: %d
metrics:
  addr: ""
kafka:
  # A killed member's partitions move after the session timeout: 10s
  # rather than 45s, so that ten kills fit in CI's budget.
  session_timeout: 10s
  transaction_timeout: 15s
`, name, w.InputTopic, p.Decisions, p.DLQ, p.Changelog, w.RF)
	if err := os.WriteFile(p.configPath, []byte(cfg), 0o644); err != nil {
		w.T.Fatal(err)
	}
	if !o.runnerDLQ {
		if err := w.Cluster.CreateTopic(w.Ctx, p.DLQ, w.Partitions, w.RF, map[string]string{"retention.ms": "-1"}); err != nil {
			w.T.Fatal(err)
		}
	}
	w.T.Cleanup(p.killAll)
	if w.Cluster.fake != nil && !o.noReaper {
		cl := w.Cluster.Client()
		ctx, cancel := context.WithCancel(w.Ctx)
		done := make(chan struct{})
		go func() { defer close(done); p.reapGhosts(ctx, cl) }()
		w.T.Cleanup(func() { cancel(); <-done })
	}
	return p
}

// Instance returns the named instance of the pipeline (created on first
// use, not started). Its state directory is stable across restarts.
func (p *Pipeline) Instance(name string) *Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	if in, ok := p.instances[name]; ok {
		return in
	}
	in := &Instance{Name: name, p: p, StateDir: filepath.Join(p.w.Dir, p.Name, name, "state")}
	p.instances[name] = in
	return in
}

// Instances returns the pipeline's instances, by name.
func (p *Pipeline) Instances() []*Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Instance
	for _, in := range p.instances {
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b *Instance) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Unexpected returns a channel that receives the name of every instance
// that exited without being told to.
func (p *Pipeline) Unexpected() <-chan string { return p.unexpected }

func (p *Pipeline) killAll() {
	for _, in := range p.Instances() {
		if in.Running() {
			in.Kill() // SIGKILL also ends a stopped (paused) process
		}
	}
}

// StopAll stops every running instance gracefully (SIGTERM) and fails the
// test if one does not exit cleanly within timeout.
func (p *Pipeline) StopAll(timeout time.Duration) {
	p.w.T.Helper()
	var wg sync.WaitGroup
	for _, in := range p.Instances() {
		if !in.Running() {
			continue
		}
		wg.Go(func() {
			if took, err := in.Stop(timeout); err != nil {
				p.w.T.Errorf("instance %s/%s: %v", p.Name, in.Name, err)
			} else {
				p.w.T.Logf("instance %s/%s stopped (SIGTERM) in %.2fs", p.Name, in.Name, took.Seconds())
			}
		})
	}
	wg.Wait()
}

// Committed returns the group's committed offsets on the input topic.
func (p *Pipeline) Committed(ctx context.Context) (map[int32]int64, error) {
	offs, err := p.w.Admin.FetchOffsets(ctx, p.Group)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == p.w.InputTopic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// Instance is one `fraudstream run` process slot: started, killed and
// restarted under the same instance id and state directory.
type Instance struct {
	Name     string
	StateDir string
	p        *Pipeline

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	expected bool // the current process is being stopped on purpose
	logs     []string
	Starts   int
	Kills    int
}

// Start launches the process. The log of each start goes to its own file.
func (in *Instance) Start() {
	w := in.p.w
	w.T.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd != nil {
		w.T.Fatalf("instance %s already running", in.Name)
	}
	if err := os.MkdirAll(in.StateDir, 0o755); err != nil {
		w.T.Fatal(err)
	}
	in.Starts++
	logPath := filepath.Join(filepath.Dir(in.StateDir), fmt.Sprintf("run-%02d.log", in.Starts))
	f, err := os.Create(logPath)
	if err != nil {
		w.T.Fatal(err)
	}
	cmd := exec.Command(w.Bin, "run",
		"--config", in.p.configPath,
		"--brokers", strings.Join(w.Cluster.Brokers, ","),
		"--group", in.p.Group,
		"--instance-id", in.Name,
		"--registry", w.Registry,
		"--state-dir", in.StateDir,
		"--model", w.Model,
		"--format", "confluent",
		"--log-format", "json")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = childEnv()
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		w.T.Fatalf("start %s: %v", in.Name, err)
	}
	in.cmd, in.expected, in.exited = cmd, false, make(chan struct{})
	in.logs = append(in.logs, logPath)
	exited := in.exited
	go func() {
		err := cmd.Wait()
		f.Close()
		in.mu.Lock()
		expected := in.expected
		in.cmd = nil
		in.mu.Unlock()
		close(exited)
		if !expected {
			w.logf("instance %s/%s (pid %d) EXITED ON ITS OWN: %v; log tail:\n%s", in.p.Name, in.Name, cmd.Process.Pid, err, tail(logPath, 30))
			select {
			case in.p.unexpected <- in.Name:
			default:
			}
		}
	}()
	w.logf("instance %s/%s started (pid %d, start #%d, state %s)", in.p.Name, in.Name, cmd.Process.Pid, in.Starts, in.StateDir)
}

// Running says whether the process is alive.
func (in *Instance) Running() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cmd != nil
}

// Pid returns the pid of the running process, or 0.
func (in *Instance) Pid() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil {
		return 0
	}
	return in.cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the process to be gone.
func (in *Instance) Kill() {
	in.mu.Lock()
	cmd, exited := in.cmd, in.exited
	if cmd == nil {
		in.mu.Unlock()
		return
	}
	in.expected = true
	in.Kills++
	_ = cmd.Process.Signal(syscall.SIGKILL)
	in.mu.Unlock()
	<-exited
	in.p.w.logf("instance %s/%s (pid %d) killed with SIGKILL", in.p.Name, in.Name, cmd.Process.Pid)
}

// CPUTicks returns the CPU time (user + system, in clock ticks) the running
// process has used so far, or -1.
func (in *Instance) CPUTicks() int64 {
	pid := in.Pid()
	if pid == 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name (which may hold spaces) in ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return u + s
}

// WaitBusy waits (up to timeout) until the process has been using CPU for
// three samples in a row (~30 ms), i.e. it is working through a batch rather
// than waiting for one. It returns whether it saw that.
func (in *Instance) WaitBusy(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	last, busy := in.CPUTicks(), 0
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		cur := in.CPUTicks()
		if cur > last {
			busy++
		} else {
			busy = 0
		}
		last = cur
		if busy >= 3 {
			return true
		}
	}
	return false
}

// Pause freezes the process (SIGSTOP): alive, connections open, but silent,
// like a long GC pause or a VM stall. Resume (SIGCONT) wakes it.
func (in *Instance) Pause() { in.signal(syscall.SIGSTOP) }

// Resume continues a paused process.
func (in *Instance) Resume() { in.signal(syscall.SIGCONT) }

func (in *Instance) signal(sig syscall.Signal) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd != nil {
		_ = in.cmd.Process.Signal(sig)
	}
}

// Dump sends SIGQUIT, so that the Go runtime writes every goroutine's stack
// to the instance's log and exits; for diagnosing a stuck instance.
func (in *Instance) Dump() {
	in.mu.Lock()
	cmd, exited := in.cmd, in.exited
	if cmd == nil {
		in.mu.Unlock()
		return
	}
	in.expected = true
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	in.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		in.Kill()
	}
}

// Stop sends SIGTERM and waits up to timeout for a clean exit (status 0).
// After the timeout the process is killed and an error returned.
func (in *Instance) Stop(timeout time.Duration) (time.Duration, error) {
	in.mu.Lock()
	cmd, exited := in.cmd, in.exited
	if cmd == nil {
		in.mu.Unlock()
		return 0, nil
	}
	in.expected = true
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	in.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(timeout):
		// SIGQUIT first: the Go runtime writes every goroutine's stack
		// to the log, which shows where the shutdown hangs.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
		return time.Since(start), fmt.Errorf("did not exit within %v of SIGTERM (goroutine dump by SIGQUIT in %s); log tail:\n%s",
			timeout, in.LastLog(), tail(in.LastLog(), 20))
	}
	took := time.Since(start)
	if st := cmd.ProcessState; st == nil || !st.Success() {
		return took, fmt.Errorf("exited with %v after SIGTERM; log tail:\n%s", cmd.ProcessState, tail(in.LastLog(), 20))
	}
	return took, nil
}

// Logs returns the log files of all starts, oldest first.
func (in *Instance) Logs() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.logs)
}

// LastLog returns the log file of the latest start.
func (in *Instance) LastLog() string {
	l := in.Logs()
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

// WipeState deletes the state directory (the instance must be down).
func (in *Instance) WipeState() error {
	if in.Running() {
		return errors.New("instance is running")
	}
	return os.RemoveAll(in.StateDir)
}

// childEnv is the test's environment without FRAUDSTREAM_* variables, which
// the binary would read as configuration.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FRAUDSTREAM_") {
			env = append(env, kv)
		}
	}
	return env
}

// LogEvent is one JSON log line of an instance.
type LogEvent map[string]any

// Msg returns the message.
func (e LogEvent) Msg() string { s, _ := e["msg"].(string); return s }

// Num returns a numeric attribute.
func (e LogEvent) Num(k string) float64 { f, _ := e[k].(float64); return f }

// Ints returns an attribute holding a list of numbers.
func (e LogEvent) Ints(k string) []int32 {
	l, _ := e[k].([]any)
	var out []int32
	for _, v := range l {
		if f, ok := v.(float64); ok {
			out = append(out, int32(f))
		}
	}
	return out
}

// ReadLog parses the JSON lines of a log file (other lines are skipped).
func ReadLog(path string) []LogEvent {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []LogEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var e LogEvent
		if json.Unmarshal(line, &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// Owned replays the "partitions assigned/revoked/lost" lines of a log and
// returns the partitions the process owned at its end.
func Owned(path string) []int32 {
	owned := map[int32]bool{}
	for _, e := range ReadLog(path) {
		switch e.Msg() {
		case "partitions assigned":
			for _, p := range e.Ints("partitions") {
				owned[p] = true
			}
		case "partitions revoked", "partitions lost":
			for _, p := range e.Ints("partitions") {
				delete(owned, p)
			}
		}
	}
	var out []int32
	for p := range owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Restore is one "restored partition state from changelog" log line.
type Restore struct {
	Instance     string
	Partition    int32
	FromOffset   int64
	ToOffset     int64
	Records      int64
	Seconds      float64
	PerSecond    float64
	LocalMeta    bool
	Committed    int64
	Time         time.Time
	LogFile      string
	LocalInputAt int64
}

// Restores returns the restore lines of the given log files.
func Restores(instance string, paths ...string) []Restore {
	var out []Restore
	for _, path := range paths {
		for _, e := range ReadLog(path) {
			if e.Msg() != "restored partition state from changelog" {
				continue
			}
			r := Restore{Instance: instance, Partition: int32(e.Num("partition")), FromOffset: int64(e.Num("from_offset")),
				ToOffset: int64(e.Num("to_offset")), Records: int64(e.Num("records")), Seconds: e.Num("seconds"),
				PerSecond: e.Num("records_per_second"), Committed: int64(e.Num("committed_offset")),
				LocalInputAt: int64(e.Num("local_input_offset")), LogFile: filepath.Base(path)}
			r.LocalMeta, _ = e["local_meta"].(bool)
			if s, ok := e["time"].(string); ok {
				r.Time, _ = time.Parse(time.RFC3339Nano, s)
			}
			out = append(out, r)
		}
	}
	return out
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
