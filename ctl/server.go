package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The control protocol: one request per connection, as a JSON line
// {"verb": "ct list", "args": {...}}; the server answers with JSON lines
// {"data": ...} (one, or a stream for trace and capture) and a last line
// {"done": true} or {"error": "..."}. A client that hangs up cancels its
// request.

// Request is what a client sends.
type Request struct {
	Verb string          `json:"verb"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Message is one line of the server's answer.
type Message struct {
	Data  json.RawMessage `json:"data,omitempty"`
	Error string          `json:"error,omitempty"`
	Done  bool            `json:"done,omitempty"`
}

// Handler serves one verb: it decodes args, sends zero or more data
// messages and returns nil (done) or an error (sent to the client).
type Handler func(ctx context.Context, args json.RawMessage, send func(any) error) error

// maxRequest bounds a request line (a conntrack import of 1M entries is
// about 200 MB of base64).
const maxRequest = 512 << 20

// DefaultSocket is where the daemon listens unless configured otherwise.
const DefaultSocket = "/run/ctswitch/ctswitch.sock"

// Server serves the control socket. It owns the listener and one
// goroutine per connection; Close stops them all.
type Server struct {
	path     string
	ln       *net.UnixListener
	handlers map[string]Handler
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// Listen creates the socket at path, mode 0600, so only root (and the
// daemon's own user) can connect; every connection's peer credentials are
// checked too. A stale socket (nobody answering) is replaced; a live one
// is an error.
func Listen(path string, handlers map[string]Handler, log *slog.Logger) (*Server, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("control socket %q: not an absolute path", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another ctswitch is listening there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
		}
	}
	// The umask makes the socket 0600 from the start: there is no moment
	// in which others could connect.
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{path: path, ln: ln, handlers: handlers, log: log, ctx: ctx, cancel: cancel}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Verbs lists the verbs served, sorted.
func (s *Server) Verbs() []string {
	var v []string
	for k := range s.handlers {
		v = append(v, k)
	}
	sort.Strings(v)
	return v
}

// Close stops accepting, cancels running requests, waits for them and
// removes the socket.
func (s *Server) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	_ = os.Remove(s.path)
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Error("control socket accept", "err", err)
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
		}()
	}
}

// peerUID returns the connecting process's uid (SO_PEERCRED).
func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

func (s *Server) serve(c *net.UnixConn) {
	defer c.Close()
	enc := json.NewEncoder(c)
	fail := func(err error) { _ = enc.Encode(Message{Error: err.Error()}) }
	uid, err := peerUID(c)
	if err != nil {
		fail(fmt.Errorf("peer credentials: %w", err))
		return
	}
	r := bufio.NewReaderSize(c, 64<<10)
	if uid != 0 && int(uid) != os.Geteuid() {
		s.log.Warn("control connection refused", "uid", uid)
		// Take (a bounded part of) the request first, so the client is
		// reading when the refusal arrives instead of failing its write.
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = readLine(r, 64<<10)
		fail(fmt.Errorf("permission denied: the control socket is for root, and you are uid %d", uid))
		return
	}
	// A request arrives at once; a silent client does not hold a
	// goroutine for ever.
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := readLine(r, maxRequest)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		fail(fmt.Errorf("read request: %w", err))
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		fail(fmt.Errorf("bad request: %w", err))
		return
	}
	h, ok := s.handlers[req.Verb]
	if !ok {
		fail(fmt.Errorf("unknown verb %q (known: %v)", req.Verb, s.Verbs()))
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// A client that stops reading must not hold up the daemon's
	// shutdown: when the request ends (or the server closes), writes and
	// reads on the connection fail at once.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	// The client sends nothing after its request: a read returning means
	// it hung up (or sent garbage), and the request is abandoned.
	go func() {
		var b [1]byte
		_, _ = r.Read(b[:])
		cancel()
	}()
	var mu sync.Mutex
	send := func(v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode answer: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(Message{Data: data}); err != nil {
			cancel()
			return fmt.Errorf("send answer: %w", err)
		}
		return nil
	}
	start := time.Now()
	if err := h(ctx, req.Args, send); err != nil {
		s.log.Debug("control request failed", "verb", req.Verb, "err", err)
		mu.Lock()
		fail(err)
		mu.Unlock()
		return
	}
	s.log.Debug("control request", "verb", req.Verb, "took", time.Since(start))
	mu.Lock()
	_ = enc.Encode(Message{Done: true})
	mu.Unlock()
}

var errTooLong = errors.New("line too long")

func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > limit {
			return nil, errTooLong
		}
		if err == nil {
			return buf, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// decodeArgs decodes a request's args strictly: unknown fields are errors.
func decodeArgs(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	d := json.NewDecoder(bytesReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("bad arguments: %w", err)
	}
	return nil
}
