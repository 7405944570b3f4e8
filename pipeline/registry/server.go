package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// Opt configures a Server; pass options to New.
type Opt func(*options)

type options struct {
	dataFile      string
	logger        *slog.Logger
	defaultCompat string
}

// WithDataFile keeps the registry in a JSON file at path: it is read when the
// server is first used (Start, or the first request to ServeHTTP) and
// rewritten atomically (temporary file, fsync, rename) after every change, so
// a restarted `fraudstream dev` hands out the same ids for the same schemas.
// A missing file is an empty registry; an unreadable or inconsistent one
// makes Start fail rather than serve wrong ids.
//
// Default: none, the registry lives in memory only. The whole file is
// rewritten on each change, which is fine for the tens of schemas a pipeline
// has, not for a shared registry.
func WithDataFile(path string) Opt {
	return func(o *options) { o.dataFile = path }
}

// WithLogger sets where the server logs schema registrations, deletions and
// persistence failures. Default: nothing is logged.
func WithLogger(l *slog.Logger) Opt {
	return func(o *options) { o.logger = l }
}

// WithDefaultCompatibility sets the global compatibility level used until one
// is set with PUT /config. Default: sr.CompatBackward, as in Confluent (a new
// schema must be able to read data written with the latest one).
// sr.CompatNone disables checking. A value that is not a level is ignored.
func WithDefaultCompatibility(level sr.CompatibilityLevel) Opt {
	return func(o *options) {
		if l, ok := parseLevel(level.String()); ok {
			o.defaultCompat = l
		}
	}
}

// Server is an in-process schema registry. It is an http.Handler; Start also
// serves it on a local TCP port. All methods are safe for concurrent use.
type Server struct {
	opts   options
	logger *slog.Logger
	mux    *http.ServeMux

	// mu guards everything below it up to the blank line. Requests hold it
	// for their whole read or change, including the data file write, so
	// changes are serialized and the file always matches memory.
	mu        sync.Mutex
	loaded    bool
	st        *state
	byID      map[int]*storedSchema
	byKey     map[string]*storedSchema
	lastSaved []byte // data file content matching st; restored if a write fails

	// life guards the listener lifecycle.
	life      sync.Mutex
	httpSrv   *http.Server
	serveDone chan struct{}
	stopWatch func() bool
}

// New returns a Server; nothing is read or listened on until Start or the
// first request.
func New(opts ...Opt) *Server {
	s := &Server{opts: options{defaultCompat: levelBackward}}
	for _, o := range opts {
		o(&s.opts)
	}
	s.logger = s.opts.logger
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.setState(newState())
	s.mux = s.routes()
	return s
}

// Start loads the data file (if any) and serves the registry on addr, which
// defaults to "127.0.0.1:0" (a random free port); a host-less addr such as
// ":8081" also binds 127.0.0.1, because this registry has no authentication
// and must not be reachable from other machines. It returns the base URL to
// give to sr.URLs, e.g. "http://127.0.0.1:41234".
//
// The server stops when ctx is done or Close is called, whichever comes
// first. Start may be called again after the server stopped.
func (s *Server) Start(ctx context.Context, addr string) (url string, err error) {
	if err := s.load(); err != nil {
		return "", err
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("schema registry address %q: %w", addr, err)
	}
	if host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}

	s.life.Lock()
	defer s.life.Unlock()
	if s.httpSrv != nil {
		return "", errors.New("schema registry already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen for schema registry on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("schema registry stopped serving", "addr", ln.Addr().String(), "err", err)
		}
	}()
	s.httpSrv, s.serveDone = srv, done
	s.stopWatch = context.AfterFunc(ctx, func() { _ = s.Close() })
	url = "http://" + ln.Addr().String()
	s.logger.Info("schema registry listening", "url", url, "data_file", s.opts.dataFile)
	return url, nil
}

// Close stops serving: it waits up to 5 s for requests in flight, then drops
// connections. It does nothing if the server is not started. The registry's
// content stays in memory (and in the data file), so Start serves it again.
func (s *Server) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.httpSrv == nil {
		return nil
	}
	s.stopWatch()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.httpSrv.Shutdown(ctx)
	if err != nil {
		err = s.httpSrv.Close()
	}
	<-s.serveDone
	s.httpSrv, s.serveDone, s.stopWatch = nil, nil, nil
	if err != nil {
		return fmt.Errorf("close schema registry: %w", err)
	}
	return nil
}

// ServeHTTP serves the Confluent REST API subset described in the package
// documentation. The data file, if any, is loaded on the first request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.load(); err != nil {
		writeError(w, errStore(err))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// load reads the data file once.
func (s *Server) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return nil
	}
	if path := s.opts.dataFile; path != "" {
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// A first run: start empty; the file appears on the first change.
		case err != nil:
			return fmt.Errorf("read schema registry data file %s: %w", path, err)
		default:
			st, err := decodeState(b)
			if err != nil {
				return fmt.Errorf("load schema registry data file %s: %w", path, err)
			}
			s.setState(st)
			s.lastSaved = b
			s.logger.Info("schema registry loaded", "data_file", path, "schemas", len(st.Schemas), "subjects", len(st.Subjects))
		}
	}
	s.loaded = true
	return nil
}

// setState installs st and rebuilds the indexes. Caller holds mu (or is New).
func (s *Server) setState(st *state) {
	s.st = st
	s.byID = make(map[int]*storedSchema, len(st.Schemas))
	s.byKey = make(map[string]*storedSchema, len(st.Schemas))
	for _, sch := range st.Schemas {
		if sch.key == "" {
			canonical, _, _ := canonicalText(sch.Type, sch.Schema)
			sch.key = schemaKey(sch.Type, canonical, sch.References)
		}
		s.byID[sch.ID] = sch
		s.byKey[sch.key] = sch
	}
}

// commit persists a change made to s.st. If the write fails the change is
// undone, so memory never holds what the file does not (a restart would
// otherwise hand out different ids). Caller holds mu.
func (s *Server) commit() *apiError {
	path := s.opts.dataFile
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(s.st, "", "  ")
	if err == nil {
		b = append(b, '\n')
		err = writeFileAtomic(path, b)
	}
	if err != nil {
		s.logger.Error("schema registry could not save its data file; change undone", "data_file", path, "err", err)
		prev := newState()
		if s.lastSaved != nil {
			if st, derr := decodeState(s.lastSaved); derr == nil {
				prev = st
			}
		}
		s.setState(prev)
		return errStore(fmt.Errorf("write %s: %w", path, err))
	}
	s.lastSaved = b
	return nil
}
