package trigger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.opentelemetry.io/otel"

	"github.com/tetherfn/tether/bindings/component"
)

// Settings are the runtime's settings, read from the environment with the
// TETHER_ prefix (TETHER_COMPONENTS, TETHER_HTTP_PORT...).
type Settings struct {
	// Components lists component folders, comma-separated.
	Components []string `envconfig:"COMPONENTS" default:"components"`
	// HTTPHost and HTTPPort are the public surface: the webhook routes of
	// inputs that receive over HTTP, and nothing else. It opens only when a
	// trigger is a webhook. The port is TETHER_HTTP_PORT, else PORT (as
	// Knative and Cloud Run set it), else DefaultPublicPort (8080). Port 0
	// picks a free port.
	HTTPHost string `envconfig:"HTTP_HOST" default:""`
	HTTPPort string `envconfig:"HTTP_PORT"`
	// APIHost and APIPort are the control surface: the Dapr-compatible
	// /v1.0 API, /v1.0/status, /metrics and health. Loopback by default; a
	// non-loopback host is refused unless APIToken is set.
	APIHost string `envconfig:"API_HOST" default:"127.0.0.1"`
	APIPort int    `envconfig:"API_PORT" default:"3500"`
	// ProbeHost and ProbePort, when the port is set, serve /healthz,
	// /readyz and /metrics only, for Kubernetes probes and Prometheus.
	ProbeHost string `envconfig:"PROBE_HOST" default:""`
	ProbePort string `envconfig:"PROBE_PORT"`
	// APIMaxRequestSize bounds a /v1.0 request body (413 beyond): bytes, or
	// 4Mi, 512Ki, 4MB...
	APIMaxRequestSize ByteSize `envconfig:"API_MAX_REQUEST_SIZE" default:"4Mi"`
	// HTTP* bound every listener: see HTTPLimits.
	HTTPReadHeaderTimeout time.Duration `envconfig:"HTTP_READ_HEADER_TIMEOUT" default:"10s"`
	HTTPReadTimeout       time.Duration `envconfig:"HTTP_READ_TIMEOUT" default:"60s"`
	HTTPIdleTimeout       time.Duration `envconfig:"HTTP_IDLE_TIMEOUT" default:"120s"`
	HTTPMaxConnections    int           `envconfig:"HTTP_MAX_CONNECTIONS" default:"1024"`
	// LogLevel is debug, info, warn or error; LogFormat text or json.
	LogLevel  string `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat string `envconfig:"LOG_FORMAT" default:"text"`
	// ShutdownGrace bounds the drain of in-flight handlers after SIGTERM.
	ShutdownGrace time.Duration `envconfig:"SHUTDOWN_GRACE" default:"25s"`
	// TracesRecent keeps the last n finished spans in memory, served on
	// GET /v1.0/traces (tether dev sets it); it turns tracing on without
	// an exporter. Tracing is otherwise set by the OTEL_* variables (see
	// TracingFromEnv).
	TracesRecent int `envconfig:"TRACES_RECENT"`
	// AppID selects components by their scopes.
	AppID string `envconfig:"APP_ID"`
	// APIToken protects the /v1.0 API, and lets the control surface listen
	// beyond loopback; DAPR_API_TOKEN is honoured too.
	APIToken string `envconfig:"API_TOKEN"`
	// AppURL turns on polyglot mode: input bindings that no Go function
	// handles are delivered to the app at this URL over HTTP, as Dapr does.
	AppURL string `envconfig:"APP_URL"`
	// AppToken is sent to the app as dapr-api-token; APP_API_TOKEN is
	// honoured too.
	AppToken string `envconfig:"APP_TOKEN"`
	// AppMaxConcurrency bounds the deliveries to the app in flight at once,
	// across its inputs (daprd's --app-max-concurrency); 0 or less means no
	// bound beyond each input's maxConcurrency.
	AppMaxConcurrency int `envconfig:"APP_MAX_CONCURRENCY"`
	// AppHealthPath, when set, is polled (GET, 2xx) at start-up before the
	// app is asked which inputs it takes (daprd's --app-health-check-path
	// with --enable-app-health-check).
	AppHealthPath string `envconfig:"APP_HEALTH_PATH"`
	// AppStartTimeout bounds the wait for the app at start-up; 0 waits until
	// the process is stopped, as daprd does, reporting not ready meanwhile.
	AppStartTimeout time.Duration `envconfig:"APP_START_TIMEOUT"`

	// DevEvents, when set, is where the runtime POSTs its delivery events
	// (see Observer): tether dev sets it to its /v1.0/dev/events in the
	// functions it runs. Unset, the runtime has no Observer.
	DevEvents string `envconfig:"DEV_EVENTS"`

	// AppChannel, when set, delivers input bindings to the app in place of
	// AppURL's HTTP (tether sidecar's gRPC channel): it returns the
	// functions, and what to close once the runtime has stopped.
	AppChannel func(ctx context.Context, set *component.Set, logger *slog.Logger) ([]Function, io.Closer, error) `ignored:"true"`
	// Beside, when set, runs once the runtime has started, until its ctx
	// ends at shutdown (tether sidecar's gRPC API). An error shuts down.
	Beside func(ctx context.Context, rt *Runtime) error `ignored:"true"`
}

// LoadSettings reads Settings from the environment.
func LoadSettings() (Settings, error) {
	var s Settings
	if err := envconfig.Process("tether", &s); err != nil {
		return s, err
	}
	if s.APIToken == "" {
		s.APIToken = os.Getenv("DAPR_API_TOKEN")
	}
	if s.AppToken == "" {
		s.AppToken = os.Getenv("APP_API_TOKEN")
	}
	if s.HTTPPort == "" {
		s.HTTPPort = os.Getenv("PORT")
	}
	if s.HTTPPort == "" {
		s.HTTPPort = strconv.Itoa(DefaultPublicPort)
	}
	for _, p := range []struct{ name, v string }{{"TETHER_HTTP_PORT (or PORT)", s.HTTPPort}, {"TETHER_PROBE_PORT", s.ProbePort}} {
		if p.v == "" {
			continue
		}
		if n, err := strconv.Atoi(p.v); err != nil || n < 0 || n > 65535 {
			return s, fmt.Errorf("%s=%q: want a port number", p.name, p.v)
		}
	}
	return s, nil
}

// Options are the runtime options the settings give (without components,
// functions and logger).
func (s Settings) Options() Options {
	o := Options{
		PublicAddr:         net.JoinHostPort(s.HTTPHost, s.HTTPPort),
		ControlAddr:        net.JoinHostPort(s.APIHost, strconv.Itoa(s.APIPort)),
		APIToken:           s.APIToken,
		MaxRequestBodySize: int64(s.APIMaxRequestSize),
		ShutdownGrace:      s.ShutdownGrace,
		HTTP: HTTPLimits{
			ReadHeaderTimeout: s.HTTPReadHeaderTimeout, ReadTimeout: s.HTTPReadTimeout,
			IdleTimeout: s.HTTPIdleTimeout, MaxConnections: s.HTTPMaxConnections,
		},
	}
	if s.ProbePort != "" {
		o.ProbeAddr = net.JoinHostPort(s.ProbeHost, s.ProbePort)
	}
	return o
}

// Logger builds the slog logger the settings ask for, writing to stderr.
func (s Settings) Logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.LogLevel)); err != nil {
		return nil, fmt.Errorf("TETHER_LOG_LEVEL: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(s.LogFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("TETHER_LOG_FORMAT %q: want text or json", s.LogFormat)
}

// Main is the whole life of a function process, called by generated mains:
// read settings, load components, start, run until SIGTERM or SIGINT, drain.
// It exits the process with status 1 and a message on stderr when start-up
// fails.
func Main(fns ...Function) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := RunMain(ctx, fns...); err != nil {
		fmt.Fprintln(os.Stderr, "tether:", err)
		os.Exit(1)
	}
}

// RunMain is Main without the signal handling and the exit, for tests and
// custom mains.
func RunMain(ctx context.Context, fns ...Function) error {
	s, err := LoadSettings()
	if err != nil {
		return err
	}
	return RunSettings(ctx, s, fns...)
}

// RunSettings is RunMain with the settings given rather than read from the
// environment: tether sidecar builds them from daprd's flags.
func RunSettings(ctx context.Context, s Settings, fns ...Function) error {
	logger, err := s.Logger()
	if err != nil {
		return err
	}
	set, err := component.Load(s.Components, &component.Options{AppID: s.AppID, Logger: logger})
	if err != nil {
		return fmt.Errorf("components:\n%w", err)
	}
	opts := s.Options()
	opts.Components, opts.Functions, opts.Logger = set, fns, logger
	opts.AppID, opts.AppConnection = s.AppID, appConnection(s)
	// The app is waited for once the runtime serves: its output bindings
	// work and it reports not ready meanwhile, as daprd does. closer is set
	// by Await, and read once Shutdown (which waits for Await) returned.
	var closer io.Closer
	defer func() {
		if closer != nil {
			closer.Close()
		}
	}()
	if s.AppURL != "" || s.AppChannel != nil {
		handled := map[string]bool{}
		for _, f := range fns {
			handled[f.Trigger] = true
		}
		opts.Await = func(ctx context.Context) ([]Function, error) {
			if s.AppChannel != nil {
				app, c, err := s.AppChannel(ctx, set, logger)
				if err != nil {
					return nil, err
				}
				closer = c
				return app, nil
			}
			return AppFunctions(ctx, set, AppOptions{URL: s.AppURL, Token: s.AppToken,
				MaxConcurrency: s.AppMaxConcurrency, HealthPath: s.AppHealthPath, StartTimeout: s.AppStartTimeout, Logger: logger},
				func(name string) bool { return handled[name] })
		}
	}
	tracing, err := TracingFromEnv(ctx, TracingSettings{Service: serviceName(s.AppID, fns), Recent: s.TracesRecent})
	if err != nil {
		return err
	}
	if tracing != nil {
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tracing.Shutdown(sctx); err != nil {
				logger.Warn("tracing: spans not exported at exit", "error", err)
			}
		}()
		opts.TracerProvider, opts.RecentSpans = tracing.Provider, tracing.Recent
		// Handlers that make spans of their own, with otel.Tracer, join
		// the runtime's traces.
		otel.SetTracerProvider(tracing.Provider)
		otel.SetTextMapPropagator(propagator)
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { logger.Warn("tracing", "error", err) }))
		if tracing.Exporter != "" {
			logger.Info("tracing on", "exporter", tracing.Exporter)
		}
	}
	if s.DevEvents != "" {
		events := newDevEvents(s.DevEvents, logger)
		defer events.Close(5 * time.Second) // after the drain: its events too
		opts.Observer = events
	}
	rt, err := New(opts)
	if err != nil {
		return err
	}
	if s.Beside == nil {
		return rt.Run(ctx)
	}
	if err := rt.Start(ctx); err != nil {
		return err
	}
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	beside := make(chan error, 1)
	go func() { beside <- s.Beside(bctx, rt) }()
	var besideErr error
	select {
	case <-ctx.Done():
	case <-rt.ShutdownRequested():
	case besideErr = <-beside:
		beside = nil
	}
	err = rt.Shutdown(context.Background())
	cancel()
	if beside != nil {
		besideErr = <-beside
	}
	return errors.Join(besideErr, err)
}

// appConnection describes the app of polyglot mode for /v1.0/metadata.
// serviceName is the service.name of a runtime's spans when the
// environment names none: the app id, else the function's name when there
// is one, else "tether".
func serviceName(appID string, fns []Function) string {
	switch {
	case appID != "":
		return appID
	case len(fns) == 1:
		return fns[0].Name
	}
	return "tether"
}

func appConnection(s Settings) *AppConnection {
	if s.AppURL == "" {
		return nil
	}
	u, err := url.Parse(s.AppURL)
	if err != nil {
		return nil
	}
	port, _ := strconv.Atoi(u.Port())
	return &AppConnection{Port: port, Protocol: u.Scheme, ChannelAddress: u.Hostname(), MaxConcurrency: s.AppMaxConcurrency}
}
