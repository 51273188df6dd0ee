package trigger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	// Default 60s.
	StartTimeout time.Duration
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
	if wait <= 0 {
		wait = 60 * time.Second
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
		subscribed, err := probe(ctx, client, url, app.Token, wait)
		if err != nil {
			return nil, fmt.Errorf("polyglot mode: probe %s for input %q: %w", url, c.Name, err)
		}
		if !subscribed {
			continue
		}
		fns = append(fns, Function{Name: appFunctionName(c.Name, taken), Trigger: c.Name, Handler: postToApp(client, url, app.Token)})
	}
	return fns, nil
}

// appFunctionName names the function delivering component to the app:
// "app-" and the component name made a DNS label (a component may be named
// "Orders.v1"), unique among those already taken.
func appFunctionName(component string, taken map[string]bool) string {
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
// listen: until ctx ends or wait has passed, a refused connection is tried
// again.
func probe(ctx context.Context, client *http.Client, url, token string, wait time.Duration) (bool, error) {
	deadline := time.Now().Add(wait)
	for {
		ok, err := probeOnce(ctx, client, url, token)
		var op *net.OpError
		if err == nil || !errors.As(err, &op) || time.Now().After(deadline) {
			return ok, err
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return false, err
		}
	}
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

func postToApp(client *http.Client, url, token string) Handler {
	return func(ctx context.Context, m *bindings.Message) (Result, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(m.Data))
		if err != nil {
			return Result{}, functions.Permanent(err)
		}
		for k, v := range m.Meta() {
			// An entry that cannot be a header (a Redis field name with a
			// space, a value with a newline) stays out rather than fail
			// every attempt: the app gets the message and the rest.
			if validHeader(k, v) {
				req.Header.Set(k, v)
			}
		}
		if m.ContentType != "" {
			req.Header.Set("Content-Type", m.ContentType)
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
		return Result{Data: body, ContentType: resp.Header.Get("Content-Type")}, nil
	}
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
