package http

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"maps"
	nethttp "net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// Reasons a request's signature is refused. The sender gets 401 and the
// reason's text; ErrReplayed also means the signature was valid.
var (
	ErrNoSignature  = errors.New("signature missing")
	ErrBadSignature = errors.New("signature does not match")
	ErrStale        = errors.New("signature timestamp outside the tolerance")
	ErrReplayed     = errors.New("signature already used")
)

// verifier checks one request's signature over its body. It returns the key
// under which the request is remembered against replays ("" when the scheme
// has no timestamp to bound the memory) and until when.
type verifier interface {
	verify(r *nethttp.Request, body []byte, now time.Time) (replayKey string, until time.Time, err error)
}

func newVerifier(md bindings.Metadata) (verifier, error) {
	preset := strings.ToLower(md.String("signature"))
	secret := md.String("secret")
	tolerance := md.Duration("tolerance")
	needSecret := func() error {
		if secret == "" {
			return &bindings.KeyError{Key: "secret", Msg: fmt.Sprintf("signature %s needs the signing secret", preset)}
		}
		return nil
	}
	if tolerance <= 0 {
		return nil, &bindings.KeyError{Key: "tolerance", Msg: "must be positive"}
	}
	switch preset {
	case "", SignatureNone:
		return nil, nil
	case SignatureTwilio:
		v := &twilioVerifier{token: []byte(md.String("authToken"))}
		if len(v.token) == 0 {
			return nil, &bindings.KeyError{Key: "authToken", Msg: "signature twilio needs the account's auth token"}
		}
		if raw := strings.TrimSpace(md.String("publicURL")); raw != "" {
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
				return nil, &bindings.KeyError{Key: "publicURL", Msg: fmt.Sprintf("%q is not an http(s) URL without a query", raw)}
			}
			v.publicURL = strings.TrimRight(raw, "?")
		}
		return v, nil
	case SignatureGitHub:
		return &githubVerifier{secret: []byte(secret)}, needSecret()
	case SignatureStripe:
		return &stripeVerifier{secret: []byte(secret), tolerance: tolerance}, needSecret()
	case SignatureSlack:
		return &slackVerifier{secret: []byte(secret), tolerance: tolerance}, needSecret()
	case SignatureHMAC:
		v := &hmacVerifier{
			secret: []byte(secret), tolerance: tolerance,
			header: strings.TrimSpace(md.String("signatureHeader")), tsHeader: strings.TrimSpace(md.String("timestampHeader")),
			base64: strings.EqualFold(md.String("signatureEncoding"), "base64"),
		}
		if !validHeaderName(v.header) {
			return nil, &bindings.KeyError{Key: "signatureHeader", Msg: fmt.Sprintf("%q is not a header name", v.header)}
		}
		if !validHeaderName(v.tsHeader) {
			return nil, &bindings.KeyError{Key: "timestampHeader", Msg: fmt.Sprintf("%q is not a header name", v.tsHeader)}
		}
		return v, needSecret()
	}
	return nil, &bindings.KeyError{Key: "signature", Msg: fmt.Sprintf("unknown preset %q", preset)}
}

func mac(h func() hash.Hash, secret []byte, parts ...[]byte) []byte {
	m := hmac.New(h, secret)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// checkTimestamp parses Unix seconds and checks them against the tolerance.
func checkTimestamp(v string, now time.Time, tolerance time.Duration) (time.Time, error) {
	secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrBadSignature, v)
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return time.Time{}, fmt.Errorf("%w: signed %s ago, tolerance %s", ErrStale, d.Round(time.Second), tolerance)
	}
	return ts, nil
}

// twilioVerifier checks X-Twilio-Signature: base64 of HMAC-SHA1, keyed with
// the auth token, of the full URL Twilio requested followed by the POST
// parameters sorted by name, each name then value, without separators. For
// bodies that are not a form (JSON), Twilio signs the URL only and puts the
// body's SHA-256 in its bodySHA256 query parameter.
type twilioVerifier struct {
	token     []byte
	publicURL string
}

func (v *twilioVerifier) verify(r *nethttp.Request, body []byte, _ time.Time) (string, time.Time, error) {
	got := r.Header.Get("X-Twilio-Signature")
	if got == "" {
		return "", time.Time{}, fmt.Errorf("%w: no X-Twilio-Signature header", ErrNoSignature)
	}
	signed := v.url(r)
	if isForm(r.Header.Get("Content-Type")) {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", time.Time{}, fmt.Errorf("%w: body is not a form: %v", ErrBadSignature, err)
		}
		var b strings.Builder
		b.WriteString(signed)
		for _, name := range slices.Sorted(maps.Keys(form)) {
			values := slices.Clone(form[name])
			slices.Sort(values)
			for _, val := range values {
				b.WriteString(name)
				b.WriteString(val)
			}
		}
		signed = b.String()
	} else if want := r.URL.Query().Get("bodySHA256"); want != "" {
		sum := sha256.Sum256(body)
		if !hmac.Equal([]byte(strings.ToLower(want)), []byte(hex.EncodeToString(sum[:]))) {
			return "", time.Time{}, fmt.Errorf("%w: bodySHA256 does not match the body", ErrBadSignature)
		}
	}
	want := base64.StdEncoding.EncodeToString(mac(sha1.New, v.token, []byte(signed)))
	if !hmac.Equal([]byte(got), []byte(want)) {
		return "", time.Time{}, ErrBadSignature
	}
	return "", time.Time{}, nil
}

// url is the URL Twilio signed: publicURL with the request's query, or the
// request's own URL rebuilt from Host and X-Forwarded-Proto.
func (v *twilioVerifier) url(r *nethttp.Request) string {
	if v.publicURL != "" {
		if r.URL.RawQuery != "" {
			return v.publicURL + "?" + r.URL.RawQuery
		}
		return v.publicURL
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

func isForm(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}

// githubVerifier checks X-Hub-Signature-256: "sha256=" and the hex HMAC-SHA256
// of the body. GitHub signs no timestamp: there is no replay window.
type githubVerifier struct{ secret []byte }

func (v *githubVerifier) verify(r *nethttp.Request, body []byte, _ time.Time) (string, time.Time, error) {
	got, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")
	if !ok {
		return "", time.Time{}, fmt.Errorf("%w: no X-Hub-Signature-256 header with a sha256= value", ErrNoSignature)
	}
	want := hex.EncodeToString(mac(sha256.New, v.secret, body))
	if !hmac.Equal([]byte(strings.ToLower(got)), []byte(want)) {
		return "", time.Time{}, ErrBadSignature
	}
	return "", time.Time{}, nil
}

// stripeVerifier checks Stripe-Signature: "t=<unix>,v1=<hex>[,v1=...]",
// the hex HMAC-SHA256 of "<t>.<body>"; any v1 may match (secret rotation).
type stripeVerifier struct {
	secret    []byte
	tolerance time.Duration
}

func (v *stripeVerifier) verify(r *nethttp.Request, body []byte, now time.Time) (string, time.Time, error) {
	header := r.Header.Get("Stripe-Signature")
	if header == "" {
		return "", time.Time{}, fmt.Errorf("%w: no Stripe-Signature header", ErrNoSignature)
	}
	var t string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t = val
		case "v1":
			sigs = append(sigs, strings.ToLower(val))
		}
	}
	if t == "" || len(sigs) == 0 {
		return "", time.Time{}, fmt.Errorf("%w: Stripe-Signature has no t= or no v1=", ErrNoSignature)
	}
	ts, err := checkTimestamp(t, now, v.tolerance)
	if err != nil {
		return "", time.Time{}, err
	}
	want := []byte(hex.EncodeToString(mac(sha256.New, v.secret, []byte(t), []byte("."), body)))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return "stripe:" + string(want), ts.Add(v.tolerance), nil
		}
	}
	return "", time.Time{}, ErrBadSignature
}

// slackVerifier checks X-Slack-Signature: "v0=" and the hex HMAC-SHA256 of
// "v0:<X-Slack-Request-Timestamp>:<body>".
type slackVerifier struct {
	secret    []byte
	tolerance time.Duration
}

func (v *slackVerifier) verify(r *nethttp.Request, body []byte, now time.Time) (string, time.Time, error) {
	got, ok := strings.CutPrefix(r.Header.Get("X-Slack-Signature"), "v0=")
	t := r.Header.Get("X-Slack-Request-Timestamp")
	if !ok || t == "" {
		return "", time.Time{}, fmt.Errorf("%w: no X-Slack-Signature v0= or no X-Slack-Request-Timestamp", ErrNoSignature)
	}
	ts, err := checkTimestamp(t, now, v.tolerance)
	if err != nil {
		return "", time.Time{}, err
	}
	want := hex.EncodeToString(mac(sha256.New, v.secret, []byte("v0:"), []byte(t), []byte(":"), body))
	if !hmac.Equal([]byte(strings.ToLower(got)), []byte(want)) {
		return "", time.Time{}, ErrBadSignature
	}
	return "slack:" + want, ts.Add(v.tolerance), nil
}

// hmacVerifier is the generic scheme: the signature header holds the
// HMAC-SHA256 of "<timestamp>.<body>" (hex, optionally "sha256="-prefixed, or
// base64), the timestamp header the signing time in Unix seconds.
type hmacVerifier struct {
	secret           []byte
	tolerance        time.Duration
	header, tsHeader string
	base64           bool
}

func (v *hmacVerifier) verify(r *nethttp.Request, body []byte, now time.Time) (string, time.Time, error) {
	got := strings.TrimSpace(r.Header.Get(v.header))
	t := r.Header.Get(v.tsHeader)
	if got == "" || t == "" {
		return "", time.Time{}, fmt.Errorf("%w: no %s or no %s header", ErrNoSignature, v.header, v.tsHeader)
	}
	ts, err := checkTimestamp(t, now, v.tolerance)
	if err != nil {
		return "", time.Time{}, err
	}
	sum := mac(sha256.New, v.secret, []byte(strings.TrimSpace(t)), []byte("."), body)
	var want string
	if v.base64 {
		want = base64.StdEncoding.EncodeToString(sum)
	} else {
		want = hex.EncodeToString(sum)
		got = strings.ToLower(strings.TrimPrefix(got, "sha256="))
	}
	if !hmac.Equal([]byte(got), []byte(want)) {
		return "", time.Time{}, ErrBadSignature
	}
	return "hmac:" + want, ts.Add(v.tolerance), nil
}

// replayCache remembers the signatures of requests within their tolerance
// window. A signature is held while its request is handled and kept once the
// request succeeded; when the request failed it is forgotten, so that the
// sender's retry of the same signed request is accepted.
type replayCache struct {
	mu        sync.Mutex
	seen      map[string]replayEntry
	nextSweep time.Time
}

type replayEntry struct {
	until    time.Time
	inFlight bool
}

// errInFlight: the same signed request is being handled right now.
var errInFlight = errors.New("the same signed request is being handled")

func newReplayCache() *replayCache { return &replayCache{seen: map[string]replayEntry{}} }

// reserve marks key as in flight until until; an error when it is already
// used or in flight.
func (c *replayCache) reserve(key string, until, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.nextSweep) {
		for k, e := range c.seen {
			if now.After(e.until) {
				delete(c.seen, k)
			}
		}
		c.nextSweep = now.Add(time.Minute)
	}
	if e, ok := c.seen[key]; ok && !now.After(e.until) {
		if e.inFlight {
			return errInFlight
		}
		return ErrReplayed
	}
	c.seen[key] = replayEntry{until: until, inFlight: true}
	return nil
}

// settle ends key's handling: kept as used when ok, forgotten otherwise.
func (c *replayCache) settle(key string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok {
		e := c.seen[key]
		e.inFlight = false
		c.seen[key] = e
		return
	}
	delete(c.seen, key)
}
