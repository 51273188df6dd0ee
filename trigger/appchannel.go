package trigger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/functions"
)

// AppOptions configure polyglot mode: delivering input bindings to an app
// written in any language, over HTTP, the way Dapr's bindings building block
// does.
type AppOptions struct {
	// URL is the app's base URL, e.g. "http://127.0.0.1:8080".
	URL string
	// Token, when set, is sent as the dapr-api-token header (Dapr's
	// APP_API_TOKEN), so the app can tell the runtime's calls from others.
	Token string
	// Client; nil uses a client without a timeout (handlerTimeout bounds each
	// delivery).
	Client *http.Client
	// StartTimeout bounds how long start-up waits for the app to accept
	// connections (it usually starts beside the runtime, in the same pod).
	// 0 waits until ctx ends, as daprd does.
	StartTimeout time.Duration
	// HealthPath, when set, is polled with GET until it answers 2xx before
	// the inputs are probed (daprd's app health check).
	HealthPath string
	// MaxConcurrency, when positive, bounds the deliveries in flight to the
	// app across all its inputs (daprd's --app-max-concurrency).
	MaxConcurrency int
	// Logger says what start-up waits for; nil discards.
	Logger *slog.Logger
}

// AppFunctions returns one function per input component of set that skip
// does not exclude, each delivering its messages to the app: at start-up an
// OPTIONS /<route> probe (2xx or 405 subscribes, anything else leaves the
// binding alone, as in Dapr), then for each message POST /<route> with the
// raw payload, its content type, and its metadata as headers (the entries
// that can be headers). A 2xx answer acks; anything else is a failed
// attempt that goes through the trigger's retry and dead-letter policy. A 2xx answer's body is the function's
// result, so a webhook trigger answers the caller with it.
func AppFunctions(ctx context.Context, set *component.Set, app AppOptions, skip func(component string) bool) ([]Function, error) {
	client := app.Client
	if client == nil {
		client = &http.Client{}
	}
	base := strings.TrimRight(app.URL, "/")
	wait := app.StartTimeout
	logger := app.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if app.HealthPath != "" {
		if err := waitHealthy(ctx, client, base+"/"+strings.TrimLeft(app.HealthPath, "/"), wait, logger); err != nil {
			return nil, fmt.Errorf("polyglot mode: app health check: %w", err)
		}
	}
	var sem chan struct{}
	if app.MaxConcurrency > 0 {
		sem = make(chan struct{}, app.MaxConcurrency)
	}
	var fns []Function
	taken := map[string]bool{}
	for _, c := range set.Components() {
		if !c.Direction.Has(bindings.DirInput) || (skip != nil && skip(c.Name)) {
			continue
		}
		route := c.Route
		if route == "" {
			route = "/" + c.Name
		}
		url := base + route
		subscribed, err := probe(ctx, client, url, app.Token, wait, logger)
		if err != nil {
			return nil, fmt.Errorf("polyglot mode: probe %s for input %q: %w", url, c.Name, err)
		}
		if !subscribed {
			continue
		}
		outs := new(*Outputs)
		fns = append(fns, Function{
			Name: AppFunctionName(c.Name, taken), Trigger: c.Name,
			Handler: postToApp(client, url, app.Token, outs, sem),
			Bind:    func(_ context.Context, o *Outputs) error { *outs = o; return nil },
		})
	}
	return fns, nil
}

// AppFunctionName names the function delivering component to the app:
// "app-" and the component name made a DNS label (a component may be named
// "Orders.v1"), unique among those already taken.
func AppFunctionName(component string, taken map[string]bool) string {
	var b strings.Builder
	b.WriteString("app-")
	dash := true
	for _, r := range strings.ToLower(component) {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.TrimRight(b.String(), "-")
	const maxLabel = 63
	base := name[:min(len(name), maxLabel)]
	name = strings.TrimRight(base, "-")
	for n := 2; taken[name]; n++ {
		suffix := "-" + strconv.Itoa(n)
		name = strings.TrimRight(base[:min(len(base), maxLabel-len(suffix))], "-") + suffix
	}
	taken[name] = true
	return name
}

// probe asks the app whether it takes an input, waiting for the app to
// listen: until ctx ends or wait (when positive) has passed, a refused
// connection is tried again.
func probe(ctx context.Context, client *http.Client, url, token string, wait time.Duration, logger *slog.Logger) (bool, error) {
	start := time.Now()
	for n := 0; ; n++ {
		ok, err := probeOnce(ctx, client, url, token)
		var op *net.OpError
		if err == nil || !errors.As(err, &op) || (wait > 0 && time.Since(start) > wait) {
			return ok, err
		}
		if n%40 == 0 {
			logger.Info("waiting for the app to listen", "url", url, "error", err)
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return false, err
		}
	}
}

// waitHealthy polls url with GET until it answers 2xx, ctx ends or wait
// (when positive) has passed.
func waitHealthy(ctx context.Context, client *http.Client, url string, wait time.Duration, logger *slog.Logger) error {
	start := time.Now()
	for n := 0; ; n++ {
		err := getOK(ctx, client, url)
		if err == nil {
			return nil
		}
		if wait > 0 && time.Since(start) > wait {
			return err
		}
		if n%40 == 0 {
			logger.Info("waiting for the app to be healthy", "url", url, "error", err)
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		}
	}
}

func getOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func probeOnce(ctx context.Context, client *http.Client, url, token string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, url, nil)
	if err != nil {
		return false, err
	}
	if token != "" {
		req.Header.Set("dapr-api-token", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusMethodNotAllowed, nil
}

// maxAppResponse bounds the app's answer that is kept as the result.
const maxAppResponse = 4 << 20

// postToApp delivers each message to the app as daprd does: the payload as
// the body, with its content type or else application/json (Dapr's
// default: an SDK reading a delivery without one decodes nothing and acks,
// losing the payload), the metadata as headers, a W3C traceparent (the
// message's own, else a new one). A 2xx JSON answer with "to" sends its
// "data" to those output bindings, as Dapr documents for input bindings;
// outs is set by the function's Bind.
func postToApp(client *http.Client, url, token string, outs **Outputs, sem chan struct{}) Handler {
	return func(ctx context.Context, m *bindings.Message) (Result, error) {
		if sem != nil {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return Result{}, ctx.Err()
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(m.Data))
		if err != nil {
			return Result{}, functions.Permanent(err)
		}
		meta := m.ReadMetadata()
		for k, v := range meta {
			// An entry that cannot be a header (a Redis field name with a
			// space, a value with a newline) stays out rather than fail
			// every attempt: the app gets the message and the rest.
			if validHeader(k, v) {
				req.Header.Set(k, v)
			}
		}
		ct := m.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
		// The attempt's span, when tracing is on, is the app's parent;
		// else the message's traceparent passes through, or a new one.
		if !injectHTTP(ctx, req.Header) && req.Header.Get("traceparent") == "" {
			req.Header.Set("traceparent", NewTraceparent())
		}
		if token != "" {
			req.Header.Set("dapr-api-token", token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return Result{}, fmt.Errorf("deliver to app: %w", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxAppResponse))
		if err != nil {
			return Result{}, fmt.Errorf("read app response: %w", err)
		}
		if resp.StatusCode/100 != 2 {
			return Result{}, fmt.Errorf("app answered %s: %.200s", resp.Status, body)
		}
		if len(body) == 0 {
			return Result{}, nil
		}
		if err := sendTo(ctx, *outs, body); err != nil {
			return Result{}, err
		}
		return Result{Data: body, ContentType: resp.Header.Get("Content-Type")}, nil
	}
}

// appResponse is the part of an app's answer to an input binding delivery
// that daprd acts on: "data" sent to each output binding in "to".
type appResponse struct {
	To   []string        `json:"to"`
	Data json.RawMessage `json:"data"`
}

// sendTo sends the "data" of an app's JSON answer to the output bindings
// its "to" names (operation create), one after the other; the first that
// fails fails the delivery, so the message is retried (an output already
// sent to may then receive it twice: at-least-once). An answer that is not
// such JSON is no request.
func sendTo(ctx context.Context, outs *Outputs, body []byte) error {
	if outs == nil || !bytes.Contains(body, []byte(`"to"`)) {
		return nil
	}
	var r appResponse
	if json.Unmarshal(body, &r) != nil || len(r.To) == 0 {
		return nil
	}
	return SendTo(ctx, outs, r.To, bindingData(r.Data))
}

// SendTo sends data to the output bindings named by to (operation create),
// one after the other, as daprd does with an app's answer to an input
// binding delivery. The first that fails fails the delivery, which is then
// retried (an output already sent to may receive the data twice:
// at-least-once); a name that is no output is a permanent failure.
func SendTo(ctx context.Context, outs *Outputs, to []string, data []byte) error {
	for _, name := range to {
		ob, err := outs.Output(name)
		if err != nil {
			return functions.Permanent(fmt.Errorf("app's answer: to: %w", err))
		}
		if _, err := ob.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: data}); err != nil {
			return fmt.Errorf("app's answer: send to %s: %w", name, err)
		}
	}
	return nil
}

// bindingData is the bytes Dapr sends for a JSON "data" value: a string's
// content, null as nothing, anything else its JSON text ({"data":"hi"}
// sends hi, {"data":{"a":1}} sends {"a":1}).
func bindingData(raw json.RawMessage) []byte {
	data := []byte(raw)
	var s string
	if len(data) > 0 && data[0] == '"' && json.Unmarshal(data, &s) == nil {
		return []byte(s)
	}
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	return data
}

// NewTraceparent returns a W3C traceparent for a new sampled trace, for a
// delivery that carries none (daprd starts a span for each).
func NewTraceparent() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// validHeader reports whether name and value make an HTTP header field that
// net/http sends (RFC 9110 token, no control characters but tab).
func validHeader(name, value string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
