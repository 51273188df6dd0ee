// Package sidecar is tether sidecar: the bindings runtime alone, for an app
// in any language, with daprd's flags. Both the tether command and the
// sidecar image's binary (cmd/tether-sidecar, which links the drivers and
// nothing of the CLI) run it:
//
//	f := pflag.NewFlagSet("tether sidecar", pflag.ContinueOnError)
//	o := sidecar.Flags(f)
//	if err := f.Parse(args); err != nil { ... }
//	err := o.Run(ctx, f)
package sidecar

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/trigger"
	"github.com/tetherfn/tether/trigger/daprgrpc"
)

// unsupportedDaprdFlags are daprd flags tether sidecar refuses by name,
// each with why, rather than ignore: a flag that silently did nothing would
// change an app's behaviour without a word.
var unsupportedDaprdFlags = map[string]string{
	"dapr-internal-grpc-port":          "service invocation between sidecars is not a bindings feature",
	"dapr-public-port":                 "health is on the API port (/v1.0/healthz)",
	"dapr-public-listen-addresses":     "health is on the API port (/v1.0/healthz)",
	"metrics-port":                     "metrics are served on the API port (/metrics)",
	"enable-metrics":                   "metrics are always served on the API port (/metrics)",
	"metrics-listen-address":           "metrics are served on the API port (/metrics)",
	"config":                           "Dapr Configuration resources (tracing, middleware, access control) are not supported",
	"placement-host-address":           "actors are not supported",
	"scheduler-host-address":           "jobs and workflows are not supported",
	"control-plane-address":            "there is no control plane: components are read from --resources-path",
	"sentry-address":                   "mTLS between sidecars is not supported",
	"enable-mtls":                      "mTLS between sidecars is not supported",
	"kubeconfig":                       "components are read from --resources-path, not the Kubernetes API",
	"app-ssl":                          "HTTPS to the app is not supported: --app-protocol http",
	"unix-domain-socket":               "Unix domain sockets are not supported: the API listens on TCP",
	"enable-profiling":                 "profiling endpoints are not served",
	"profile-port":                     "profiling endpoints are not served",
	"dapr-http-read-buffer-size":       "not configurable",
	"read-buffer-size":                 "not configurable",
	"max-body-size":                    "use --dapr-http-max-request-size",
	"enable-api-logging":               "API calls are not logged",
	"dapr-block-shutdown-duration":     "not supported: shutdown starts on SIGTERM",
	"app-health-probe-timeout":         "not supported: the health check uses --app-health-probe-interval only",
	"app-health-threshold":             "not supported: the app is checked at start-up only",
	"enable-app-health-check":          "", // handled: see below
	"disable-builtin-k8s-secret-store": "there is no Kubernetes secret store to disable",
}

// Options are daprd's flags that tether sidecar takes.
type Options struct {
	appID             string
	appPort           int
	appProtocol       string
	appChannelAddress string
	httpPort          int
	grpcPort          int
	listenAddresses   string
	resourcesPaths    []string
	appMaxConcurrency int
	logLevel          string
	logAsJSON         bool
	healthCheck       bool
	healthPath        string
	healthInterval    time.Duration
	gracefulShutdown  int
	maxRequestSize    int
	mode              string
}

// UsageError is a flag tether sidecar cannot honour (exit status 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Flags declares daprd's flags on f, those tether sidecar refuses hidden
// (so that the refusal names them), and returns what they set.
func Flags(f *pflag.FlagSet) *Options {
	o := &Options{}
	f.StringVar(&o.appID, "app-id", "", "the app's id: selects components by their scopes, shown by /v1.0/metadata")
	f.IntVar(&o.appPort, "app-port", 0, "the port the app listens on for input bindings; 0 when it takes none")
	f.StringVar(&o.appProtocol, "app-protocol", "http", "how input bindings reach the app: http or grpc (Dapr's AppCallback service)")
	f.StringVar(&o.appChannelAddress, "app-channel-address", "127.0.0.1", "the app's host")
	f.IntVar(&o.httpPort, "dapr-http-port", envInt("DAPR_HTTP_PORT", 3500), "the port of Dapr's HTTP API (env DAPR_HTTP_PORT)")
	f.IntVar(&o.grpcPort, "dapr-grpc-port", envInt("DAPR_GRPC_PORT", 50001), "the port of Dapr's gRPC API (env DAPR_GRPC_PORT); 0 serves none")
	f.StringVar(&o.listenAddresses, "dapr-listen-addresses", "127.0.0.1", "the address the API listens on; beyond loopback only with DAPR_API_TOKEN set")
	f.StringSliceVar(&o.resourcesPaths, "resources-path", nil, "a folder of component files (repeatable; default ./components)")
	f.StringSliceVar(&o.resourcesPaths, "components-path", nil, "the deprecated name of --resources-path")
	f.IntVar(&o.maxRequestSize, "dapr-http-max-request-size", 4, "largest /v1.0 request body, in MB (413 beyond)")
	f.IntVar(&o.appMaxConcurrency, "app-max-concurrency", -1, "most deliveries to the app in flight at once; -1 for no bound")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&o.logAsJSON, "log-as-json", false, "log JSON lines")
	f.BoolVar(&o.healthCheck, "enable-app-health-check", false, "wait at start-up for --app-health-check-path to answer 2xx (not ready meanwhile)")
	f.StringVar(&o.healthPath, "app-health-check-path", "/healthz", "the app's health path, polled at start-up with --enable-app-health-check or when given")
	f.DurationVar(&o.healthInterval, "app-health-probe-interval", 5*time.Second, "accepted for daprd compatibility: the start-up check polls every 250ms")
	f.IntVar(&o.gracefulShutdown, "dapr-graceful-shutdown-seconds", 5, "how long handlers in flight may finish after SIGTERM")
	f.StringVar(&o.mode, "mode", "standalone", "standalone only (components come from files)")
	for name, why := range unsupportedDaprdFlags {
		if why == "" || f.Lookup(name) != nil {
			continue
		}
		// Declared so that the refusal names the reason; hidden from help.
		f.String(name, "", why)
		if strings.HasPrefix(name, "enable-") || strings.HasPrefix(name, "disable-") || name == "app-ssl" {
			f.Lookup(name).NoOptDefVal = "true" // daprd's booleans
		}
		_ = f.MarkHidden(name)
	}
	return o
}

// Run checks the flags set on f and runs the runtime until ctx ends or
// /v1.0/shutdown is called.
func (o *Options) Run(ctx context.Context, f *pflag.FlagSet) error {
	for name, why := range unsupportedDaprdFlags {
		if why != "" && f.Changed(name) {
			return refuse("--%s is not supported: %s", name, why)
		}
	}
	s, err := o.settings(f)
	if err != nil {
		return err
	}
	return trigger.RunSettings(ctx, s)
}

// settings maps daprd's flags onto the runtime's settings.
func (o *Options) settings(flags *pflag.FlagSet) (trigger.Settings, error) {
	s, err := trigger.LoadSettings()
	if err != nil {
		return s, err
	}
	if o.appProtocol != "http" && o.appProtocol != "grpc" {
		return s, refuse("--app-protocol %q: want http or grpc (https and grpcs are not supported)", o.appProtocol)
	}
	if o.mode != "standalone" {
		return s, refuse("--mode %q: tether sidecar runs standalone only, components come from --resources-path", o.mode)
	}
	s.AppID = o.appID
	appAddr := net.JoinHostPort(o.appChannelAddress, strconv.Itoa(o.appPort))
	switch {
	case o.appPort <= 0:
	case o.appProtocol == "grpc":
		s.AppChannel = func(ctx context.Context, set *component.Set, logger *slog.Logger) ([]trigger.Function, io.Closer, error) {
			return daprgrpc.AppFunctions(ctx, set, daprgrpc.AppOptions{Address: appAddr, Token: s.AppToken,
				MaxConcurrency: s.AppMaxConcurrency, StartTimeout: s.AppStartTimeout, Logger: logger})
		}
	default:
		s.AppURL = "http://" + appAddr
	}
	s.AppMaxConcurrency = o.appMaxConcurrency
	if o.healthCheck || flags.Changed("app-health-check-path") {
		s.AppHealthPath = o.healthPath
	}
	host := strings.Trim(o.listenAddresses, "[]")
	if strings.Contains(host, ",") {
		return s, refuse("--dapr-listen-addresses %q: tether sidecar listens on one address", o.listenAddresses)
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && s.APIToken == "" {
		return s, refuse("--dapr-listen-addresses %q: the API is loopback-only unless DAPR_API_TOKEN is set (daprd listens on every interface by default; Tether does not expose its bindings API without a token)", o.listenAddresses)
	}
	s.APIHost, s.APIPort = host, o.httpPort
	if o.grpcPort > 0 {
		grpcAddr := net.JoinHostPort(host, strconv.Itoa(o.grpcPort))
		token := s.APIToken
		s.Beside = func(ctx context.Context, rt *trigger.Runtime) error {
			ln, err := net.Listen("tcp", grpcAddr)
			if err != nil {
				return fmt.Errorf("dapr gRPC API: %w", err)
			}
			// The runtime's logger, with --log-level and --log-as-json
			// (slog's default would write another format).
			if logger, err := s.Logger(); err == nil {
				logger.Info("dapr gRPC API", "addr", ln.Addr().String())
			}
			return daprgrpc.Serve(ctx, ln, rt, token)
		}
	}
	if o.maxRequestSize <= 0 {
		return s, refuse("--dapr-http-max-request-size %d: want a size in MB, at least 1", o.maxRequestSize)
	}
	s.APIMaxRequestSize = trigger.ByteSize(o.maxRequestSize) << 20
	if len(o.resourcesPaths) > 0 {
		s.Components = o.resourcesPaths
	} else if !flags.Changed("resources-path") && os.Getenv("TETHER_COMPONENTS") == "" {
		s.Components = []string{"components"}
	}
	s.LogLevel = o.logLevel
	if o.logAsJSON {
		s.LogFormat = "json"
	}
	s.ShutdownGrace = time.Duration(o.gracefulShutdown) * time.Second
	return s, nil
}

// envInt reads an integer default from the environment, as daprd reads
// DAPR_HTTP_PORT; a variable that is not a number is left to the flag's
// default.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// refuse is a flag tether sidecar cannot honour.
func refuse(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}
