package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// StatusError is the error of a call answered with a status outside 2xx
// while errorIfNot2XX holds. It keeps the answer.
type StatusError struct {
	Method string
	// URL is the URL called, without its query (which may hold keys).
	URL        string
	StatusCode int
	Status     string
	Header     nethttp.Header
	// Body is the start of the answer's body (at most 64 KiB).
	Body []byte
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.Status)
	if len(e.Body) > 0 {
		body := string(e.Body)
		if len(body) > 200 {
			body = body[:200] + "..."
		}
		msg += ": " + strings.TrimSpace(body)
	}
	return msg
}

// maxErrorBody bounds the body a StatusError keeps.
const maxErrorBody = 64 << 10

// reservedMeta are request metadata keys that are not headers.
var reservedMeta = []string{MetaPath, MetaErrorIfNot2XX, "contentType"}

// methods maps operations to HTTP methods; create is POST, as in Dapr.
var methods = map[bindings.Operation]string{
	bindings.OpCreate: nethttp.MethodPost, OpPost: nethttp.MethodPost,
	bindings.OpGet: nethttp.MethodGet, OpHead: nethttp.MethodHead,
	OpPut: nethttp.MethodPut, OpPatch: nethttp.MethodPatch,
	bindings.OpDelete: nethttp.MethodDelete, OpOptions: nethttp.MethodOptions, OpTrace: nethttp.MethodTrace,
}

type output struct {
	s      outputSettings
	base   string // url without a trailing slash
	client *nethttp.Client
	closed atomic.Bool
}

func newOutput(cfg bindings.Config) (*output, error) {
	md := allKeys(cfg.Values())
	s, err := parseOutput(md, true)
	if err != nil {
		return nil, err
	}
	if _, err := parseInput(cfg.Name, md); err != nil {
		return nil, err
	}
	transport := nethttp.DefaultTransport.(*nethttp.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	transport.TLSHandshakeTimeout = 15 * time.Second
	transport.TLSClientConfig = s.tls
	// Functions call one endpoint from many workers at once: keep as many
	// connections to it as they use, not net/http's 2.
	transport.MaxIdleConnsPerHost = 64
	return &output{
		s: s, base: strings.TrimRight(s.url.String(), "/"),
		client: &nethttp.Client{Transport: transport, CheckRedirect: credentialsStayHome(s.tokenHeader)},
	}, nil
}

// maxRedirects is net/http's own limit.
const maxRedirects = 10

// credentialsStayHome is the client's redirect policy: once a redirect
// leaves the first request's origin (scheme, host and port), the
// security token's header, Authorization, Proxy-Authorization and Cookie are
// no longer sent, for the rest of the chain. net/http alone keeps a custom
// header such as X-Api-Key on every redirect, and keeps Authorization and
// Cookie when only the port changes (it compares host names); another port
// is another server, and the token is for the component's url only.
func credentialsStayHome(tokenHeader string) func(*nethttp.Request, []*nethttp.Request) error {
	sensitive := []string{"Authorization", "Proxy-Authorization", "Cookie"}
	if tokenHeader != "" {
		sensitive = append(sensitive, tokenHeader)
	}
	return func(req *nethttp.Request, via []*nethttp.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		home := origin(via[0].URL)
		left := origin(req.URL) != home
		for _, r := range via[1:] {
			left = left || origin(r.URL) != home
		}
		if left {
			for _, h := range sensitive {
				req.Header.Del(h)
			}
		}
		return nil
	}
}

// origin is a URL's scheme, host and port, the port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// Invoke sends one request; see docs/bindings/http.md.
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req == nil {
		return nil, errors.New("nil request")
	}
	method, ok := methods[req.Operation]
	if !ok {
		return nil, fmt.Errorf("%w %q", bindings.ErrUnsupportedOperation, req.Operation)
	}
	if o.closed.Load() {
		return nil, bindings.ErrClosed
	}
	errorIfNot2XX := o.s.errorIfNot2XX
	if v, ok := req.Metadata[MetaErrorIfNot2XX]; ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, functions.Permanent(fmt.Errorf("metadata %q: %q is not a boolean", MetaErrorIfNot2XX, v))
		}
		errorIfNot2XX = b
	}
	u := o.base
	if p := req.Metadata[MetaPath]; p != "" {
		u += "/" + strings.TrimLeft(p, "/")
	}
	var body io.Reader
	if method == nethttp.MethodPost || method == nethttp.MethodPut || method == nethttp.MethodPatch {
		body = bytes.NewReader(req.Data)
	}
	if o.s.responseTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.s.responseTimeout)
		defer cancel()
	}
	hreq, err := nethttp.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, functions.Permanent(fmt.Errorf("build request: %w", err))
	}
	if err := o.headers(hreq, req, body != nil); err != nil {
		return nil, functions.Permanent(err)
	}
	resp, err := o.client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, redact(hreq), unwrapURLError(err))
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // keep the connection reusable
		resp.Body.Close()
	}()
	data, err := o.readBody(resp)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, redact(hreq), err)
	}
	if errorIfNot2XX && resp.StatusCode/100 != 2 {
		e := &StatusError{Method: method, URL: redact(hreq), StatusCode: resp.StatusCode, Status: resp.Status,
			Header: resp.Header, Body: data[:min(len(data), maxErrorBody)]}
		if resp.StatusCode == nethttp.StatusTooManyRequests || resp.StatusCode == nethttp.StatusServiceUnavailable {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				return nil, functions.RetryAfter(time.Duration(s)*time.Second, e)
			}
		}
		return nil, e
	}
	if a, ok := ctx.Value(answerKey{}).(*answer); ok {
		// The typed Client's call: it reads the status and header as they
		// are, so they need not become metadata (a string per header and
		// a map) to be parsed back.
		a.status, a.header = resp.StatusCode, resp.Header
		if len(data) == 0 {
			data = nil
		}
		return &bindings.InvokeResponse{Data: data, ContentType: resp.Header.Get("Content-Type")}, nil
	}
	md := make(map[string]string, len(resp.Header)+2)
	md[MetaStatusCode] = strconv.Itoa(resp.StatusCode)
	md[MetaStatus] = resp.Status
	for k, vs := range resp.Header {
		md[k] = strings.Join(vs, ", ")
	}
	if len(data) == 0 {
		data = nil
	}
	return &bindings.InvokeResponse{Data: data, ContentType: resp.Header.Get("Content-Type"), Metadata: md}, nil
}

// answerKey is the context key under which Client hands Invoke an *answer
// to fill with the response's status and header, in place of the metadata
// map.
type answerKey struct{}

// answer is the response's status and header, as Client reads them.
type answer struct {
	status int
	header nethttp.Header
}

// headers sets the request's headers: the content type, Dapr's JSON
// defaults, the security token, then every other metadata key.
func (o *output) headers(hreq *nethttp.Request, req *bindings.InvokeRequest, hasBody bool) error {
	h := hreq.Header
	for k, v := range req.Metadata {
		if isReserved(k) {
			continue
		}
		if !validHeaderName(k) {
			return fmt.Errorf("metadata %q is not a valid header name", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("metadata %q: the value contains a line break", k)
		}
		h.Set(k, v)
	}
	if req.ContentType != "" {
		h.Set("Content-Type", req.ContentType)
	} else if hasBody && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json; charset=utf-8") // Dapr's default
	}
	if h.Get("Accept") == "" {
		h.Set("Accept", "application/json; charset=utf-8") // Dapr's default
	}
	if o.s.tokenHeader != "" {
		h.Set(o.s.tokenHeader, o.s.token)
	}
	if host := h.Get("Host"); host != "" {
		hreq.Host = host
	}
	return nil
}

func isReserved(k string) bool {
	for _, r := range reservedMeta {
		if k == r {
			return true
		}
	}
	return false
}

// readBody reads the answer, failing when it is larger than
// maxResponseBodySize rather than cutting it short.
func (o *output) readBody(resp *nethttp.Response) ([]byte, error) {
	limit := o.s.maxResponseBody
	if limit <= 0 {
		return io.ReadAll(resp.Body)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("response body of %d bytes is larger than maxResponseBodySize (%d)", resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("response body larger than maxResponseBodySize (%d)", limit)
	}
	return data, nil
}

// redact is the request's URL without user info or query, for errors and
// logs.
func redact(r *nethttp.Request) string {
	u := *r.URL
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return u.String()
}

// unwrapURLError drops *url.Error's repetition of method and URL (which may
// hold a query with keys); the cause stays reachable.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (o *output) Close() error {
	o.closed.Store(true)
	o.client.CloseIdleConnections()
	return nil
}
