package trigger

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"runtime/debug"

	"github.com/gorilla/mux"

	"github.com/tetherfn/tether/bindings"
)

// AppConnection describes the app that input bindings are delivered to, as
// daprd's /v1.0/metadata shows it (appConnectionProperties).
type AppConnection struct {
	Port           int    `json:"port,omitempty"`
	Protocol       string `json:"protocol,omitempty"`
	ChannelAddress string `json:"channelAddress,omitempty"`
	MaxConcurrency int    `json:"maxConcurrency,omitempty"`
}

// DaprMetadata is the body of daprd's GET /v1.0/metadata, with the fields
// Dapr's SDKs read; building blocks Tether does not have are empty lists.
// The gRPC API's GetMetadata answers the same.
type DaprMetadata struct {
	ID                      string            `json:"id"`
	RuntimeVersion          string            `json:"runtimeVersion"`
	EnabledFeatures         []string          `json:"enabledFeatures"`
	Components              []DaprComponent   `json:"components"`
	Extended                map[string]string `json:"extended"`
	Subscriptions           []struct{}        `json:"subscriptions"`
	HTTPEndpoints           []struct{}        `json:"httpEndpoints"`
	AppConnectionProperties *AppConnection    `json:"appConnectionProperties,omitempty"`
	ActorRuntime            map[string]any    `json:"actorRuntime"`
}

// DaprComponent is one registered component in DaprMetadata.
type DaprComponent struct {
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	Version      string   `json:"version"`
	Capabilities []string `json:"capabilities,omitempty"`
}

// RuntimeVersion is the version /v1.0/metadata reports: the module version
// of the binary, "(devel)" for a build from a checkout.
func RuntimeVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// DaprMetadata returns what GET /v1.0/metadata shows: the app id, the runtime
// version, every loaded binding component with its type and version, the
// extended metadata set with PUT /v1.0/metadata/{key}, and the app
// connection. It never holds component metadata values.
func (r *Runtime) DaprMetadata() DaprMetadata {
	md := DaprMetadata{
		ID: r.opts.AppID, RuntimeVersion: RuntimeVersion(),
		EnabledFeatures: []string{}, Components: []DaprComponent{},
		Subscriptions: []struct{}{}, HTTPEndpoints: []struct{}{},
		AppConnectionProperties: r.opts.AppConnection,
		ActorRuntime:            map[string]any{"runtimeStatus": "DISABLED", "activeActors": []any{}, "hostReady": false},
	}
	for _, c := range r.opts.Components.Components() {
		v := c.Version
		if v == "" {
			v = c.Binding.Version
		}
		dc := DaprComponent{Name: c.Name, Type: c.Type, Version: v}
		if c.Direction.Has(bindings.DirInput) {
			dc.Capabilities = append(dc.Capabilities, "INPUT_BINDING")
		}
		if c.Direction.Has(bindings.DirOutput) {
			dc.Capabilities = append(dc.Capabilities, "OUTPUT_BINDING")
		}
		md.Components = append(md.Components, dc)
	}
	r.extMu.Lock()
	md.Extended = maps.Clone(r.extended)
	r.extMu.Unlock()
	if md.Extended == nil {
		md.Extended = map[string]string{}
	}
	md.Extended["daprRuntimeVersion"] = md.RuntimeVersion
	return md
}

func (r *Runtime) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(r.DaprMetadata())
}

// maxMetadataValue bounds a PUT /v1.0/metadata/{key} body.
const maxMetadataValue = 64 << 10

// servePutMetadata is daprd's PUT /v1.0/metadata/{key}: the body is the
// value, kept in the extended metadata; 204.
func (r *Runtime) servePutMetadata(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxMetadataValue))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", "read body: "+err.Error())
		return
	}
	r.SetExtendedMetadata(mux.Vars(req)["key"], string(body))
	w.WriteHeader(http.StatusNoContent)
}

// SetExtendedMetadata sets an entry of the extended metadata DaprMetadata
// shows (daprd's PUT /v1.0/metadata/{key}).
func (r *Runtime) SetExtendedMetadata(key, value string) {
	r.extMu.Lock()
	defer r.extMu.Unlock()
	if r.extended == nil {
		r.extended = map[string]string{}
	}
	r.extended[key] = value
}

// serveShutdown is daprd's POST /v1.0/shutdown: 204, then Run shuts down
// gracefully as on SIGTERM.
func (r *Runtime) serveShutdown(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusNoContent)
	r.RequestShutdown()
}

// ShutdownRequested is closed once RequestShutdown was called (POST
// /v1.0/shutdown, the gRPC API's Shutdown): whoever runs the runtime
// without Run shuts it down then.
func (r *Runtime) ShutdownRequested() <-chan struct{} { return r.stopRequested }

// RequestShutdown makes Run shut down gracefully, as the end of its context
// does; it returns at once.
func (r *Runtime) RequestShutdown() {
	r.stopOnce.Do(func() { close(r.stopRequested) })
}
