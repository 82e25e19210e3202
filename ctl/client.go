package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// Client talks to a daemon's control socket.
type Client struct {
	Socket string
}

// ErrRemote wraps an error the daemon answered with.
type ErrRemote struct{ Msg string }

func (e *ErrRemote) Error() string { return e.Msg }

// Call sends one request and calls each for every data message, until
// the daemon says done or fails. ctx cancels the request.
func (c *Client) Call(ctx context.Context, verb string, args any, each func(json.RawMessage) error) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED):
			return fmt.Errorf("no ctswitch daemon at %s (is \"ctswitch run --config\" running? --socket picks another): %w", c.Socket, err)
		case errors.Is(err, os.ErrPermission):
			return fmt.Errorf("control socket %s: permission denied: it is for root only: %w", c.Socket, err)
		}
		return fmt.Errorf("control socket %s: %w", c.Socket, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := Request{Verb: verb}
	if args != nil {
		if req.Args, err = json.Marshal(args); err != nil {
			return fmt.Errorf("%s: encode arguments: %w", verb, err)
		}
	}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return fmt.Errorf("%s: send: %w", verb, ctxErr(ctx, err))
	}
	dec := json.NewDecoder(bufio.NewReaderSize(conn, 64<<10))
	for {
		var m Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%s: the daemon closed the connection without an answer", verb)
			}
			return fmt.Errorf("%s: %w", verb, ctxErr(ctx, err))
		}
		switch {
		case m.Error != "":
			return &ErrRemote{Msg: m.Error}
		case m.Done:
			return nil
		case each != nil:
			if err := each(m.Data); err != nil {
				return err
			}
		}
	}
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Get sends one request and decodes its single data message into out.
func (c *Client) Get(ctx context.Context, verb string, args, out any) error {
	got := false
	return c.Call(ctx, verb, args, func(raw json.RawMessage) error {
		if got {
			return fmt.Errorf("%s: more than one answer", verb)
		}
		got = true
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s: decode answer: %w", verb, err)
		}
		return nil
	})
}
