package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
)

// The runtime serves up to three surfaces, each on its own listener, so
// that which of them a caller can reach is decided by the network (which
// port a container exposes, which interface a socket is bound to) rather
// than by inspecting each request's peer address, which a reverse proxy or
// a service mesh in front of the process turns into its own:
//
//   - public: the webhook routes of inputs that receive over HTTP
//     (bindings.Router), and nothing else. Opened only when a trigger is a
//     webhook.
//   - control: the Dapr-compatible /v1.0 API (invoke any output binding),
//     /v1.0/status, /metrics and health. Loopback-only unless an API token
//     protects it.
//   - probe: /healthz, /readyz and /metrics (and Dapr's /v1.0/healthz), for
//     Kubernetes probes and Prometheus; off unless asked for.
//
// Surfaces given the same address share one listener that serves the
// routes of both (for example probes on the public port, as Knative wants);
// port 0 gives each its own free port.
// See docs/security.md.

// Default listener settings.
const (
	// DefaultPublicPort is the webhook port when neither TETHER_HTTP_PORT
	// nor PORT is set: Knative's and Cloud Run's default.
	DefaultPublicPort = 8080
	// DefaultControlAddr is where the control surface listens by default:
	// loopback, on Dapr's HTTP port, so Dapr clients in the same pod or on
	// the same machine find it.
	DefaultControlAddr = "127.0.0.1:3500"
	// DefaultMaxRequestBodySize bounds a /v1.0 request body (Dapr's
	// default).
	DefaultMaxRequestBodySize = 4 << 20
)

// HTTPLimits bound every listener of the runtime, so that a flood of slow
// or idle connections or large bodies cannot exhaust memory or file
// descriptors. Zero fields take the defaults.
type HTTPLimits struct {
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included. Default
	// 60s. (Handlers that hold a request open after reading its body clear
	// the deadline, so a long invocation is not cut off.)
	ReadTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no new
	// request. Default 120s.
	IdleTimeout time.Duration
	// MaxConnections bounds the connections each listener serves at once;
	// more wait in the kernel's accept queue until one closes. Default
	// 1024.
	MaxConnections int
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = 10 * time.Second
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = 60 * time.Second
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 120 * time.Second
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = 1024
	}
	return l
}

// IsLoopback reports whether a listen address ("host:port") binds only to
// the loopback interface. An empty host, 0.0.0.0 and :: bind to every
// interface; a host name other than localhost is taken as non-loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errControlExposed is why a non-loopback control address without a token
// is refused.
func errControlExposed(addr string) error {
	return fmt.Errorf("the control API address %s is not loopback, and no API token protects it: "+
		"anyone reaching it could invoke every output binding; "+
		"set TETHER_API_TOKEN (or DAPR_API_TOKEN) so that callers must send it as the dapr-api-token header, "+
		"or bind it to loopback (TETHER_API_HOST=127.0.0.1); Kubernetes probes and Prometheus can use TETHER_PROBE_PORT instead", addr)
}

// surface is one named set of routes.
type surface struct {
	name   string // public, control, probe
	addr   string
	routes func(*mux.Router)
	// front, when set, sees each request before the router: a fast path
	// for the hottest route (see Runtime.controlFront).
	front func(next http.Handler) http.Handler
}

// listener is one open socket and its server, serving one or more
// surfaces.
type listener struct {
	names  []string
	ln     net.Listener
	server *http.Server
	// busy counts the connections with a request in flight (StateActive),
	// for shutdown.
	busy atomic.Int64
}

// listen opens one listener per distinct address among surfaces, each
// serving the routes of the surfaces at that address.
func listen(surfaces []surface, limits HTTPLimits, logger *slog.Logger) ([]*listener, error) {
	var out []*listener
	byAddr := map[string]*listener{}
	routers := map[*listener]*mux.Router{}
	for _, s := range surfaces {
		if s.addr == "" {
			continue
		}
		if l, ok := byAddr[s.addr]; ok && !strings.HasSuffix(s.addr, ":0") {
			l.names = append(l.names, s.name)
			s.routes(routers[l])
			if s.front != nil {
				l.server.Handler = s.front(l.server.Handler)
			}
			continue
		}
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			for _, l := range out {
				_ = l.ln.Close()
			}
			return nil, fmt.Errorf("listen on %s (%s surface): %w", s.addr, s.name, err)
		}
		m := mux.NewRouter()
		s.routes(m)
		l := &listener{names: []string{s.name}, ln: limitListener(ln, limits.MaxConnections)}
		var h http.Handler = m
		if s.front != nil {
			h = s.front(m)
		}
		l.server = &http.Server{
			Handler:           h,
			ReadHeaderTimeout: limits.ReadHeaderTimeout,
			ReadTimeout:       limits.ReadTimeout,
			IdleTimeout:       limits.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
			ConnState:         l.track,
		}
		byAddr[s.addr] = l
		routers[l] = m
		out = append(out, l)
	}
	return out, nil
}

// track keeps busy: the count of connections whose request is in flight.
// The server calls it from each connection's goroutine, in order.
func (l *listener) track(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	active := st == http.StateActive
	if lc.active.Swap(active) != active {
		if active {
			l.busy.Add(1)
		} else {
			l.busy.Add(-1)
		}
	}
}

// shutdown stops accepting, waits until no request is in flight (or ctx
// ends), then closes the connections left. http.Server.Shutdown alone also
// waits for a connection on which no request ever came (a client's spare,
// dialed while another freed up) until it is 5 s old, which took a
// runtime with such a client past its grace and failed its shutdown; such a
// connection carries nothing to wait for.
func (l *listener) shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- l.server.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if l.busy.Load() == 0 {
				err := l.server.Close()
				<-done
				return err
			}
		}
	}
}

func (l *listener) serve(logger *slog.Logger) {
	if err := l.server.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("http server stopped", "surface", strings.Join(l.names, "+"), "error", err)
	}
}

// limitListener bounds the connections open at once: Accept waits while n
// are open. (golang.org/x/net/netutil.LimitListener, which this module does
// not otherwise need.)
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem       chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitedListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
	active  atomic.Bool // a request is in flight (listener.track)
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ByteSize is a size in bytes read from the environment: a plain number of
// bytes, or one with a unit: 4Mi, 512Ki, 1Gi (powers of 1024) or 4MB, 512KB
// (powers of 1000).
type ByteSize int64

// Decode implements envconfig.Decoder.
func (b *ByteSize) Decode(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize reads a size such as 4Mi, 4MB or 4194304.
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a number of bytes, optionally with a unit (4Mi, 512Ki, 4MB)", s)
	}
	return n * mult, nil
}
