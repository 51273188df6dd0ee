package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netsmtp "net/smtp"
	"net/textproto"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// defaultSendTimeout bounds one send when the caller's context has no
// deadline.
const defaultSendTimeout = time.Minute

type output struct {
	s      settings
	closed atomic.Bool
}

func newOutput(cfg bindings.Config) (*output, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	if s.skipTLSVerify {
		cfg.Logger.Warn("skipTLSVerify is set: the SMTP server's certificate is not checked")
	}
	return &output{s: s}, nil
}

// Invoke sends one email; see docs/bindings/smtp.md.
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req == nil {
		return nil, errors.New("nil request")
	}
	if req.Operation != bindings.OpCreate {
		return nil, fmt.Errorf("%w %q", bindings.ErrUnsupportedOperation, req.Operation)
	}
	if o.closed.Load() {
		return nil, bindings.ErrClosed
	}
	// A copy: the request's overrides never touch the component's settings.
	env, err := o.s.defaults.with(req.Metadata)
	if err != nil {
		return nil, functions.Permanent(err)
	}
	if err := env.check(); err != nil {
		return nil, functions.Permanent(err)
	}
	msg, err := env.compose(req.Data, req.ContentType, time.Now())
	if err != nil {
		return nil, functions.Permanent(err)
	}
	if err := o.send(ctx, env.from.Address, env.recipients(), msg); err != nil {
		return nil, classify(err)
	}
	return nil, nil
}

// send runs one SMTP session: connect, STARTTLS when offered, AUTH when
// configured, MAIL, RCPT for each recipient, DATA, QUIT.
func (o *output) send(ctx context.Context, from string, to []string, msg []byte) error {
	addr := net.JoinHostPort(o.s.host, strconv.Itoa(o.s.port))
	tlsConfig := &tls.Config{ServerName: o.s.host, InsecureSkipVerify: o.s.skipTLSVerify, MinVersion: tls.VersionTLS12}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultSendTimeout)
		defer cancel()
	}
	var conn net.Conn
	var err error
	if o.s.port == 465 { // SMTPS: TLS from the first byte
		conn, err = (&tls.Dialer{Config: tlsConfig}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = new(net.Dialer).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	// net/smtp has no contexts: the deadline bounds the whole session, and
	// a cancelled context cuts the connection.
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := netsmtp.NewClient(conn, o.s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && o.s.port != 465 {
		if err := c.StartTLS(tlsConfig); err != nil {
			return fmt.Errorf("smtp %s: STARTTLS: %w", addr, err)
		}
	}
	if o.s.user != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("smtp %s: user is set, but the server offers no AUTH", addr)
		}
		// PlainAuth refuses to send the password unencrypted to anything
		// but localhost.
		if err := c.Auth(netsmtp.PlainAuth("", o.s.user, o.s.password, o.s.host)); err != nil {
			return fmt.Errorf("smtp %s: AUTH: %w", addr, err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM %s: %w", addr, from, err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("smtp %s: RCPT TO %s: %w", addr, r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp %s: write message: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: message refused: %w", addr, err)
	}
	// The message was accepted at the end of DATA; a failed QUIT does not
	// unsend it.
	_ = c.Quit()
	return nil
}

// classify marks the server's permanent refusals (5xx: unknown mailbox,
// message rejected) as functions.Permanent: retrying sends the same message
// to the same refusal. Network errors and 4xx stay retryable.
func classify(err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 {
		return functions.Permanent(err)
	}
	return err
}

func (o *output) Close() error {
	o.closed.Store(true)
	return nil
}
