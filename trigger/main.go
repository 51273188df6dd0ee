package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/tetherfn/tether/bindings/component"
)

// Settings are the runtime's settings, read from the environment with the
// TETHER_ prefix (TETHER_COMPONENTS, TETHER_HTTP_PORT...).
type Settings struct {
	// Components lists component folders, comma-separated.
	Components []string `envconfig:"COMPONENTS" default:"components"`
	// HTTPHost and HTTPPort are where health, metrics, status, webhooks and
	// the Dapr-compatible API are served. Port 0 picks a free port.
	HTTPHost string `envconfig:"HTTP_HOST" default:""`
	HTTPPort int    `envconfig:"HTTP_PORT" default:"3500"`
	// LogLevel is debug, info, warn or error; LogFormat text or json.
	LogLevel  string `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat string `envconfig:"LOG_FORMAT" default:"text"`
	// ShutdownGrace bounds the drain of in-flight handlers after SIGTERM.
	ShutdownGrace time.Duration `envconfig:"SHUTDOWN_GRACE" default:"25s"`
	// AppID selects components by their scopes.
	AppID string `envconfig:"APP_ID"`
	// APIToken protects the /v1.0 API; DAPR_API_TOKEN is honoured too.
	APIToken string `envconfig:"API_TOKEN"`
	// AppURL turns on polyglot mode: input bindings that no Go function
	// handles are delivered to the app at this URL over HTTP, as Dapr does.
	AppURL string `envconfig:"APP_URL"`
	// AppToken is sent to the app as dapr-api-token; APP_API_TOKEN is
	// honoured too.
	AppToken string `envconfig:"APP_TOKEN"`
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
	return s, nil
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
	logger, err := s.Logger()
	if err != nil {
		return err
	}
	set, err := component.Load(s.Components, &component.Options{AppID: s.AppID, Logger: logger})
	if err != nil {
		return fmt.Errorf("components:\n%w", err)
	}
	if s.AppURL != "" {
		handled := map[string]bool{}
		for _, f := range fns {
			handled[f.Trigger] = true
		}
		app, err := AppFunctions(ctx, set, AppOptions{URL: s.AppURL, Token: s.AppToken},
			func(name string) bool { return handled[name] })
		if err != nil {
			return err
		}
		fns = append(fns, app...)
	}
	rt, err := New(Options{
		Components: set, Functions: fns, Logger: logger,
		Addr:          net.JoinHostPort(s.HTTPHost, strconv.Itoa(s.HTTPPort)),
		ShutdownGrace: s.ShutdownGrace, APIToken: s.APIToken,
	})
	if err != nil {
		return err
	}
	return rt.Run(ctx)
}
