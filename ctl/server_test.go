package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func testServer(t *testing.T, handlers map[string]Handler) *Server {
	t.Helper()
	dir := openTempDir(t)
	srv, err := Listen(filepath.Join(dir, "ctl.sock"), handlers, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func echoHandlers() map[string]Handler {
	return map[string]Handler{
		"echo": func(ctx context.Context, args json.RawMessage, send func(any) error) error {
			var a struct {
				Say   string `json:"say"`
				Times int    `json:"times"`
			}
			if err := decodeArgs(args, &a); err != nil {
				return err
			}
			for range max(a.Times, 1) {
				if err := send(a.Say); err != nil {
					return err
				}
			}
			return nil
		},
		"fail": func(context.Context, json.RawMessage, func(any) error) error {
			return errors.New("it failed on purpose")
		},
		"block": func(ctx context.Context, _ json.RawMessage, send func(any) error) error {
			_ = send("started")
			<-ctx.Done()
			blockDone <- ctx.Err()
			return ctx.Err()
		},
	}
}

var blockDone = make(chan error, 1)

func TestServerProtocol(t *testing.T) {
	srv := testServer(t, echoHandlers())
	c := &Client{Socket: srv.Path()}
	ctx := t.Context()
	var got []string
	err := c.Call(ctx, "echo", map[string]any{"say": "hi", "times": 3}, func(raw json.RawMessage) error {
		var s string
		err := json.Unmarshal(raw, &s)
		got = append(got, s)
		return err
	})
	if err != nil || strings.Join(got, ",") != "hi,hi,hi" {
		t.Fatalf("echo: %v %v", got, err)
	}
	var one string
	if err := c.Get(ctx, "echo", map[string]any{"say": "one"}, &one); err != nil || one != "one" {
		t.Errorf("get: %q %v", one, err)
	}
	if err := c.Get(ctx, "echo", map[string]any{"say": "x", "times": 2}, &one); err == nil || !strings.Contains(err.Error(), "more than one answer") {
		t.Errorf("two answers to Get: %v", err)
	}
	for _, tc := range []struct {
		verb string
		args any
		want string
	}{
		{"fail", nil, "it failed on purpose"},
		{"nope", nil, `unknown verb "nope" (known: [block echo fail])`},
		{"echo", map[string]any{"bogus": 1}, `bad arguments: json: unknown field "bogus"`},
		{"echo", map[string]any{"times": "x"}, "bad arguments: json: cannot unmarshal string"},
	} {
		err := c.Get(ctx, tc.verb, tc.args, nil)
		var re *ErrRemote
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: %v, want remote error %q", tc.verb, tc.args, err, tc.want)
		}
	}
	if fi, err := os.Stat(srv.Path()); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v %v, want a 0600 socket", fi.Mode(), err)
	}
}

func TestServerCancelsAbandonedRequest(t *testing.T) {
	srv := testServer(t, echoHandlers())
	c := &Client{Socket: srv.Path()}
	ctx, cancel := context.WithCancel(t.Context())
	err := c.Call(ctx, "block", nil, func(json.RawMessage) error {
		cancel() // the client gives up after the first message
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("client: %v", err)
	}
	select {
	case err := <-blockDone:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler kept running after the client hung up")
	}
}

func TestListenRefusesLiveSocketAndReplacesStale(t *testing.T) {
	srv := testServer(t, echoHandlers())
	if _, err := Listen(srv.Path(), nil, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "another ctswitch is listening") {
		t.Errorf("second listener: %v", err)
	}
	stale := filepath.Join(t.TempDir(), "stale.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Listen(stale, echoHandlers(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	s2.Close()
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	if _, err := Listen("relative.sock", nil, nil); err == nil || !strings.Contains(err.Error(), "not an absolute path") {
		t.Errorf("relative path: %v", err)
	}
	c := &Client{Socket: filepath.Join(t.TempDir(), "none.sock")}
	if err := c.Get(t.Context(), "echo", nil, nil); err == nil || !strings.Contains(err.Error(), "no ctswitch daemon at") {
		t.Errorf("no daemon: %v", err)
	}
}

// TestNonRootRefused runs a client as uid 65534 (nobody): the socket's
// mode refuses it, and so does the peer-credential check when the mode
// is opened up (a misconfigured directory, a copied socket).
func TestNonRootRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root; this test must not skip there")
		}
		t.Skip("needs root to run a client as another user")
	}
	srv := testServer(t, echoHandlers())
	// The test binary must be executable by nobody.
	dir := openTempDir(t)
	bin := filepath.Join(dir, "client")
	copyFile(t, os.Args[0], bin)
	runAsNobody := func() string {
		cmd := exec.Command(bin, "-test.run=^TestHelperClient$")
		cmd.Env = append(os.Environ(), "CTL_HELPER_SOCKET="+srv.Path())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := runAsNobody(); !strings.Contains(out, "HELPER: control socket") || !strings.Contains(out, "permission denied") {
		t.Errorf("mode 0600 did not refuse nobody:\n%s", out)
	}
	if err := os.Chmod(srv.Path(), 0o666); err != nil {
		t.Fatal(err)
	}
	if out := runAsNobody(); !strings.Contains(out, "HELPER: permission denied: the control socket is for root, and you are uid 65534") {
		t.Errorf("peer credentials did not refuse nobody:\n%s", out)
	}
}

// TestHelperClient is the client of TestNonRootRefused, run as another
// user; it does nothing in a normal test run.
func TestHelperClient(t *testing.T) {
	sock := os.Getenv("CTL_HELPER_SOCKET")
	if sock == "" {
		return
	}
	c := &Client{Socket: sock}
	var s string
	err := c.Get(context.Background(), "echo", map[string]any{"say": "hi"}, &s)
	if err != nil {
		os.Stdout.WriteString("HELPER: " + err.Error() + "\n")
	} else {
		os.Stdout.WriteString("HELPER: answered " + s + "\n")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "5d": 120 * time.Hour, "1d12h": 36 * time.Hour, "1.5s": 1500 * time.Millisecond} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "x", "5dd", "d", "-1d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// openTempDir is a t.TempDir other users can traverse (the test's parent
// directory is 0700 by default).
func openTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A client that stops reading must not hold up Close (the daemon's
// shutdown).
func TestCloseWithStalledClient(t *testing.T) {
	big := strings.Repeat("x", 1<<16)
	srv := testServer(t, map[string]Handler{
		"flood": func(ctx context.Context, _ json.RawMessage, send func(any) error) error {
			for {
				if err := send(big); err != nil {
					return err
				}
			}
		},
	})
	conn, err := net.Dial("unix", srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(`{"verb":"flood"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the socket buffer fills; the handler blocks in a write
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked behind a client that does not read")
	}
}
