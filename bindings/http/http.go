// Package http is Tether's HTTP binding, type "bindings.http".
//
// The output is Dapr's: each operation is an HTTP verb (get, head, post, put,
// patch, delete, options, trace; create is POST) sent to the component's url
// with the request's "path" metadata appended and its other metadata as
// headers. The answer's body is the response data, its status and headers the
// response metadata; a status outside 2xx is an error ([*StatusError]) unless
// errorIfNot2XX is false.
//
// The input, which Dapr does not have, is a webhook: a route on the runtime's
// HTTP server (webhookPath, default /<component name>). Each request is a
// message — the body its data, headers and query its metadata, CloudEvents
// (binary and structured mode) understood — and the function's result is the
// HTTP response. The request waits for the outcome: success answers 200 with
// the function's result (204 without one); a failure that will be retried
// answers 503 with Retry-After, so the sender retries: a webhook is
// at-least-once only through its sender's retries. Signatures of Twilio,
// GitHub, Stripe, Slack or a generic HMAC are checked before the function
// runs (metadata "signature").
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: github-events
//	spec:
//	  type: bindings.http
//	  version: v1
//	  metadata:
//	  - name: direction
//	    value: input
//	  - name: webhookPath
//	    value: /hooks/github
//	  - name: signature
//	    value: github
//	  - name: secret
//	    secretKeyRef: {name: github, key: webhookSecret}
//
// A function that calls an HTTP API takes a [*Client] among its outputs; one
// that only posts may use functions.Output[T].
package http

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// TypeName is the binding type's name in component files.
const TypeName = "bindings.http"

// Operations beyond bindings.OpCreate (POST), OpGet and OpDelete: the other
// HTTP verbs, as in Dapr.
const (
	OpHead    bindings.Operation = "head"
	OpPost    bindings.Operation = "post"
	OpPut     bindings.Operation = "put"
	OpPatch   bindings.Operation = "patch"
	OpOptions bindings.Operation = "options"
	OpTrace   bindings.Operation = "trace"
)

// Metadata keys of a request to the output, and of its answer.
const (
	// MetaPath is appended to the component's url.
	MetaPath = "path"
	// MetaErrorIfNot2XX overrides the component's errorIfNot2XX for one call.
	MetaErrorIfNot2XX = "errorIfNot2XX"
	// MetaStatusCode is the answer's status code ("404").
	MetaStatusCode = "statusCode"
	// MetaStatus is the answer's status line ("404 Not Found").
	MetaStatus = "status"
)

// Metadata keys of input messages, besides one per request header under its
// lower-case name and the CloudEvents attributes (ce-id, ce-source...).
const (
	MetaMethod      = "http.method"
	MetaRequestPath = "http.path"
	// MetaQueryPrefix starts one key per query parameter:
	// "http.query.page" holds ?page=2.
	MetaQueryPrefix = "http.query."
	MetaRemoteAddr  = "http.remoteAddr"
	// MetaCEPrefix starts the CloudEvents attributes of a request that is a
	// CloudEvent: ce-id, ce-source, ce-type, ce-specversion, ce-subject,
	// ce-time, ce-dataschema and ce-<extension>.
	MetaCEPrefix = "ce-"
)

// Signature presets of the "signature" key.
const (
	SignatureNone   = "none"
	SignatureTwilio = "twilio"
	SignatureGitHub = "github"
	SignatureStripe = "stripe"
	SignatureSlack  = "slack"
	SignatureHMAC   = "hmac"
)

// Defaults the declaration cannot carry: responseTimeout applies to both
// directions with a different default each.
const (
	defaultInputResponseTimeout = 30 * time.Second
	defaultMaxResponseBodySize  = "100Mi"
)

// Type declares bindings.http.
var Type = bindings.Type{
	Name:       TypeName,
	Version:    "v1",
	Summary:    "HTTP: call an endpoint with any verb (output); receive webhooks with signature checks (input).",
	Directions: bindings.DirBoth,
	Operations: []bindings.Operation{bindings.OpCreate, bindings.OpGet, OpHead, OpPost, OpPut, OpPatch, bindings.OpDelete, OpOptions, OpTrace},
	Capabilities: bindings.Capabilities{
		// Requests waiting when Receive is called come together.
		BatchReceive: true,
		// A nack answers 503 with Retry-After: the delay; a sender that
		// honours it does not come back sooner.
		DelayedNack:  true,
		RequestReply: true,
		Metadata:     true,
		ContentType:  true,
		// A sender that timed out, or whose 2xx answer got lost, sends again.
		Duplicates: true,
	},
	Metadata: metadataKeys,
	InputMetadata: []bindings.MetadataKey{
		{Name: "<header>", Description: `Each request header under its lower-case name ("content-type", "user-agent", "x-github-event"); repeated headers joined with ", ". Headers whose name starts with "http." are dropped, so none can pose as the keys below.`},
		{Name: "host", Description: "The request's Host."},
		{Name: MetaMethod, Description: "The request method (POST)."},
		{Name: MetaRequestPath, Description: "The request path."},
		{Name: MetaQueryPrefix + "<name>", Description: "One per query parameter; repeated parameters joined with \",\"."},
		{Name: MetaRemoteAddr, Description: "The address the request came from (the proxy's, behind one)."},
		{Name: MetaCEPrefix + "<attribute>", Description: "For a CloudEvent (binary or structured mode): its attributes, ce-id, ce-source, ce-type, ce-specversion, ce-subject, ce-time, ce-dataschema and ce-<extension>."},
	},
	Check:     check,
	NewInput:  func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) { return newInput(ctx, cfg) },
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return newOutput(cfg) },
}

func init() { bindings.Register(Type) }

// metadataKeys are the component keys of both directions.
var metadataKeys = []bindings.MetadataKey{
	// Output, as Dapr.
	{Name: "url", Kind: bindings.KindString, Required: true, Direction: bindings.DirOutput, Example: "https://api.example.com/v1",
		Description: `Base URL of the endpoint; a request's "path" metadata is appended to it.`},
	{Name: "maxResponseBodySize", Kind: bindings.KindString, Default: defaultMaxResponseBodySize, Direction: bindings.DirOutput,
		Description: "Largest response body read, in bytes or with a unit (Ki, Mi, Gi, k, M, G). A larger one fails the call (Dapr truncates it silently). 0 means no limit."},
	{Name: "MTLSRootCA", Kind: bindings.KindString, Direction: bindings.DirOutput,
		Description: "CA certificate(s) the server's certificate must chain to, instead of the system's: PEM text or the path of a PEM file."},
	{Name: "MTLSClientCert", Kind: bindings.KindString, Direction: bindings.DirOutput,
		Description: "Client certificate for mutual TLS, with MTLSClientKey: PEM text or a file path."},
	{Name: "MTLSClientKey", Kind: bindings.KindString, Direction: bindings.DirOutput, Secret: true,
		Description: "Private key of MTLSClientCert: PEM text or a file path."},
	{Name: "MTLSRenegotiation", Kind: bindings.KindEnum, Direction: bindings.DirOutput,
		Enum:        []string{"RenegotiateNever", "RenegotiateOnceAsClient", "RenegotiateFreelyAsClient"},
		Description: "TLS renegotiation the client accepts (TLS 1.2 servers that ask for a client certificate late). Default: RenegotiateNever."},
	{Name: "securityToken", Kind: bindings.KindString, Direction: bindings.DirOutput, Secret: true,
		Description: "Token sent on every request in the securityTokenHeader header."},
	{Name: "securityTokenHeader", Kind: bindings.KindString, Direction: bindings.DirOutput,
		Description: "Header that carries securityToken, e.g. Authorization (then write the token as \"Bearer ...\")."},
	{Name: "errorIfNot2XX", Kind: bindings.KindBool, Default: "true", Direction: bindings.DirOutput,
		Description: `Fail calls whose status is not 2xx. A request's "errorIfNot2XX" metadata overrides it.`},
	{Name: "responseTimeout", Kind: bindings.KindDuration,
		Description: "Output: longest time a call may take, body included; default none (the caller's context). Input: how long a webhook request waits for the function's outcome before it is answered 503 with Retry-After; default 30s. Keep it below the sender's own timeout."},
	// Input.
	{Name: "webhookPath", Kind: bindings.KindString, Direction: bindings.DirInput,
		Description: "Path of the webhook on the runtime's HTTP server, a plain path; /healthz, /readyz, /metrics and /v1.0/... are the runtime's. Default: /<component name>."},
	{Name: "methods", Kind: bindings.KindString, Default: "POST", Direction: bindings.DirInput,
		Description: "HTTP methods the webhook accepts, separated by commas; others get 405. A webhook with a signature takes exactly one (no scheme signs the method)."},
	{Name: "maxRequestBodySize", Kind: bindings.KindString, Default: "4Mi", Direction: bindings.DirInput,
		Description: "Largest request body accepted, in bytes or with a unit (Ki, Mi, k, M...); a larger one is answered 413 before the function runs."},
	{Name: "readTimeout", Kind: bindings.KindDuration, Default: "30s", Direction: bindings.DirInput,
		Description: "Longest time reading a request body may take; a slower sender is cut off."},
	{Name: "signature", Kind: bindings.KindEnum, Default: SignatureNone, Direction: bindings.DirInput,
		Enum:        []string{SignatureNone, SignatureTwilio, SignatureGitHub, SignatureStripe, SignatureSlack, SignatureHMAC},
		Description: "Signature every request must carry, checked before the function runs (401 otherwise): twilio (X-Twilio-Signature, with authToken), github (X-Hub-Signature-256), stripe (Stripe-Signature), slack (X-Slack-Signature), hmac (generic HMAC-SHA256 with a timestamp), each with secret; none. A signed webhook takes one method (no scheme signs it), and only twilio's takes a query (the others do not sign the URL)."},
	{Name: "authToken", Kind: bindings.KindString, Direction: bindings.DirInput, Secret: true,
		Description: "Twilio auth token, for signature twilio."},
	{Name: "publicURL", Kind: bindings.KindString, Direction: bindings.DirInput,
		Description: "The webhook's URL as the sender calls it (scheme, host, path; the request's query is added), for signature twilio, which signs the URL. Default: rebuilt from the request's Host and X-Forwarded-Proto, which a proxy may change."},
	{Name: "secret", Kind: bindings.KindString, Direction: bindings.DirInput, Secret: true,
		Description: "Signing secret for signature github, stripe (whsec_...), slack and hmac."},
	{Name: "signatureHeader", Kind: bindings.KindString, Default: "X-Signature", Direction: bindings.DirInput,
		Description: `Header holding the signature, for signature hmac: HMAC-SHA256 of "<timestamp>.<body>", hex (an optional "sha256=" prefix is accepted) or base64 (signatureEncoding).`},
	{Name: "timestampHeader", Kind: bindings.KindString, Default: "X-Timestamp", Direction: bindings.DirInput,
		Description: "Header holding the signing time in Unix seconds, for signature hmac."},
	{Name: "signatureEncoding", Kind: bindings.KindEnum, Enum: []string{"hex", "base64"}, Default: "hex", Direction: bindings.DirInput,
		Description: "Encoding of the signature, for signature hmac (with hex, an optional sha256= prefix is accepted)."},
	{Name: "tolerance", Kind: bindings.KindDuration, Default: "5m", Direction: bindings.DirInput,
		Description: "For signatures with a timestamp (stripe, slack, hmac): how far the signing time may be from now; older requests are refused, and a signature seen within it is refused as a replay."},
	{Name: "replayWindow", Kind: bindings.KindDuration, Default: "0s", Direction: bindings.DirInput,
		Description: "For signature github or twilio, which sign no timestamp: how long a handled request's signature is remembered; the same signed request (a replay, a redelivery, or a re-cut Twilio form) is refused 401 within it. 0: not remembered."},
	{Name: "replayCacheSize", Kind: bindings.KindInt, Default: "100000", Direction: bindings.DirInput,
		Description: "Signatures the in-memory replay store keeps; past it the least recently seen is forgotten first (and a replay of it is accepted). Not used with replayRedisHost or replayConnectionString."},
	{Name: "replayRedisHost", Kind: bindings.KindString, Direction: bindings.DirInput,
		Description: "Redis host:port where replicas share the signatures they remember (SET NX with the window's expiry), instead of each its own memory."},
	{Name: "replayRedisUsername", Kind: bindings.KindString, Direction: bindings.DirInput,
		Description: "Redis user name (ACL), with replayRedisHost."},
	{Name: "replayRedisPassword", Kind: bindings.KindString, Direction: bindings.DirInput, Secret: true,
		Description: "Redis password, with replayRedisHost."},
	{Name: "replayRedisDB", Kind: bindings.KindInt, Default: "0", Direction: bindings.DirInput,
		Description: "Redis database, with replayRedisHost."},
	{Name: "replayConnectionString", Kind: bindings.KindString, Direction: bindings.DirInput, Secret: true,
		Description: "PostgreSQL connection string (URL or key=value) of the database where replicas share the signatures they remember. Exclusive with replayRedisHost."},
	{Name: "replayTable", Kind: bindings.KindString, Default: "tether_webhook_replay", Direction: bindings.DirInput,
		Description: "Table of the PostgreSQL replay store (key, handled, expires_at), created if missing; optionally schema-qualified."},
	{Name: "replayPrefix", Kind: bindings.KindString, Direction: bindings.DirInput,
		Description: `Prefix of the keys in a shared replay store. Replicas of one function share it; other webhooks must not. Default: "tether:replay:<component name>".`},
}

// allKeys returns md with the declared defaults of both directions filled
// in: OpenInput applies only the input's defaults, OpenOutput only the
// output's, and each constructor checks the other side's keys as well.
func allKeys(md bindings.Metadata) bindings.Metadata {
	values := md.Map()
	for _, k := range metadataKeys {
		if _, ok := values[k.Name]; !ok && k.Default != "" {
			values[k.Name] = k.Default
		}
	}
	return bindings.NewMetadata(values)
}

// outputSettings are the output's keys, validated.
type outputSettings struct {
	url             *url.URL
	maxResponseBody int64 // 0: no limit
	tls             *tls.Config
	tokenHeader     string
	token           string
	errorIfNot2XX   bool
	responseTimeout time.Duration // 0: none
}

// inputSettings are the input's keys, validated.
type inputSettings struct {
	path            string
	methods         []string
	maxRequestBody  int64
	readTimeout     time.Duration
	responseTimeout time.Duration
	verifier        verifier // nil for none
	replay          replaySettings
}

// parseOutput checks the output keys. Both constructors call both parsers,
// so a component file is valid or not whichever side opens it first; the
// input skips url's presence only.
// check is the type's Check: what newInput and newOutput refuse before any
// I/O.
func check(cfg bindings.Config, dir bindings.Direction) error {
	md := allKeys(cfg.Values())
	if _, err := parseOutput(md, dir == bindings.DirOutput); err != nil {
		return err
	}
	_, err := parseInput(cfg.Name, md)
	return err
}

func parseOutput(md bindings.Metadata, needURL bool) (outputSettings, error) {
	s := outputSettings{errorIfNot2XX: md.Bool("errorIfNot2XX"), responseTimeout: md.Duration("responseTimeout")}
	if raw := md.String("url"); raw != "" || needURL {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return s, &bindings.KeyError{Key: "url", Msg: fmt.Sprintf("%q is not an http(s) URL", raw)}
		}
		s.url = u
	}
	var err error
	if s.maxResponseBody, err = parseSize(md.String("maxResponseBodySize")); err != nil {
		return s, &bindings.KeyError{Key: "maxResponseBodySize", Msg: err.Error()}
	}
	if s.responseTimeout < 0 {
		return s, &bindings.KeyError{Key: "responseTimeout", Msg: "must not be negative"}
	}
	s.token, s.tokenHeader = md.String("securityToken"), strings.TrimSpace(md.String("securityTokenHeader"))
	switch {
	case s.token != "" && s.tokenHeader == "":
		return s, &bindings.KeyError{Key: "securityTokenHeader", Msg: "securityToken is set without the header to send it in"}
	case s.token == "" && s.tokenHeader != "":
		return s, &bindings.KeyError{Key: "securityToken", Msg: "securityTokenHeader is set without a token"}
	case s.tokenHeader != "" && !validHeaderName(s.tokenHeader):
		return s, &bindings.KeyError{Key: "securityTokenHeader", Msg: fmt.Sprintf("%q is not a header name", s.tokenHeader)}
	}
	s.tls, err = tlsConfig(md)
	return s, err
}

// tlsConfig builds the client's TLS settings from the MTLS keys.
func tlsConfig(md bindings.Metadata) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if v := md.String("MTLSRootCA"); v != "" {
		pemBytes, err := pemValue("MTLSRootCA", v)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, &bindings.KeyError{Key: "MTLSRootCA", Msg: "holds no PEM certificate"}
		}
		cfg.RootCAs = pool
	}
	certV, keyV := md.String("MTLSClientCert"), md.String("MTLSClientKey")
	switch {
	case certV != "" && keyV != "":
		certPEM, err := pemValue("MTLSClientCert", certV)
		if err != nil {
			return nil, err
		}
		keyPEM, err := pemValue("MTLSClientKey", keyV)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, &bindings.KeyError{Key: "MTLSClientCert", Msg: "with MTLSClientKey: " + err.Error()}
		}
		cfg.Certificates = []tls.Certificate{cert}
	case certV != "":
		return nil, &bindings.KeyError{Key: "MTLSClientKey", Msg: "MTLSClientCert is set without its key"}
	case keyV != "":
		return nil, &bindings.KeyError{Key: "MTLSClientCert", Msg: "MTLSClientKey is set without its certificate"}
	}
	switch strings.ToLower(md.String("MTLSRenegotiation")) {
	case "renegotiateonceasclient":
		cfg.Renegotiation = tls.RenegotiateOnceAsClient
	case "renegotiatefreelyasclient":
		cfg.Renegotiation = tls.RenegotiateFreelyAsClient
	}
	return cfg, nil
}

// pemValue returns v when it is PEM text, else the content of the file it
// names, as Dapr does. The error never shows v: it may be a private key.
func pemValue(key, v string) ([]byte, error) {
	if block, _ := pem.Decode([]byte(v)); block != nil {
		return []byte(v), nil
	}
	if strings.Contains(v, "-----BEGIN") || strings.ContainsAny(v, "\n") {
		return nil, &bindings.KeyError{Key: key, Msg: "is neither valid PEM nor a file path"}
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return nil, &bindings.KeyError{Key: key, Msg: fmt.Sprintf("not PEM, and not a readable file: %v", err)}
	}
	if block, _ := pem.Decode(b); block == nil {
		return nil, &bindings.KeyError{Key: key, Msg: fmt.Sprintf("file %s holds no PEM block", v)}
	}
	return b, nil
}

// reservedPaths are the runtime's own routes, which a webhook must not hide.
var reservedPaths = []string{"/healthz", "/readyz", "/metrics", "/v1.0"}

func parseInput(name string, md bindings.Metadata) (inputSettings, error) {
	s := inputSettings{readTimeout: md.Duration("readTimeout"), responseTimeout: md.Duration("responseTimeout")}
	s.path = strings.TrimSpace(md.String("webhookPath"))
	if s.path == "" {
		s.path = "/" + name
	}
	switch {
	case !strings.HasPrefix(s.path, "/"):
		return s, &bindings.KeyError{Key: "webhookPath", Msg: fmt.Sprintf("%q does not start with /", s.path)}
	case strings.ContainsAny(s.path, "{}?# \t"):
		return s, &bindings.KeyError{Key: "webhookPath", Msg: fmt.Sprintf("%q: a plain path, without {, }, ?, # or spaces", s.path)}
	}
	for _, r := range reservedPaths {
		if s.path == r || strings.HasPrefix(s.path, r+"/") {
			return s, &bindings.KeyError{Key: "webhookPath", Msg: fmt.Sprintf("%q is the runtime's own route %s", s.path, r)}
		}
	}
	for _, m := range strings.Split(md.String("methods"), ",") {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" {
			continue
		}
		if !validHeaderName(m) { // a method is a token, like a header name
			return s, &bindings.KeyError{Key: "methods", Msg: fmt.Sprintf("%q is not an HTTP method", m)}
		}
		if !slices.Contains(s.methods, m) {
			s.methods = append(s.methods, m)
		}
	}
	if len(s.methods) == 0 {
		return s, &bindings.KeyError{Key: "methods", Msg: "names no method"}
	}
	var err error
	if s.maxRequestBody, err = parseSize(md.String("maxRequestBodySize")); err != nil {
		return s, &bindings.KeyError{Key: "maxRequestBodySize", Msg: err.Error()}
	}
	if s.maxRequestBody <= 0 {
		return s, &bindings.KeyError{Key: "maxRequestBodySize", Msg: "must be positive: a webhook's body is read into memory"}
	}
	if s.readTimeout <= 0 {
		return s, &bindings.KeyError{Key: "readTimeout", Msg: "must be positive"}
	}
	if !md.Has("responseTimeout") || md.String("responseTimeout") == "" {
		s.responseTimeout = defaultInputResponseTimeout
	}
	if s.responseTimeout <= 0 {
		return s, &bindings.KeyError{Key: "responseTimeout", Msg: "must be positive for an input: the sender waits at most this long"}
	}
	if s.verifier, err = newVerifier(md); err != nil {
		return s, err
	}
	if s.verifier != nil && len(s.methods) > 1 {
		return s, &bindings.KeyError{Key: "methods", Msg: fmt.Sprintf("a signed webhook takes one method: %s signs none, so a request signed for %s would be accepted as %s too", md.String("signature"), s.methods[0], s.methods[1])}
	}
	s.replay, err = parseReplay(name, md, s.verifier, s.responseTimeout)
	return s, err
}

// parseSize reads a byte size: a whole number of bytes, or one with a unit
// (Ki, Mi, Gi, Ti binary; k, K, M, G, T decimal), as Dapr's
// maxResponseBodySize.
func parseSize(v string) (int64, error) {
	v = strings.TrimSpace(v)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
	}
	mult := int64(1)
	num := v
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (like 4096, 512Ki, 4Mi, 10M)", v)
	}
	return n * mult, nil
}

// validHeaderName reports whether s is an HTTP token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// retryAfter renders a delay as a Retry-After value: whole seconds, at least
// one, so that a sender never comes back in a hot loop.
func retryAfter(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}
