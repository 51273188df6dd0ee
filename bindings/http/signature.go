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
// under which the request is remembered against replays (what was signed,
// so that no altered copy gets a key of its own) and until when: the zero
// time for schemes without a timestamp, whose memory is the input's
// replayWindow.
type verifier interface {
	verify(r *nethttp.Request, body []byte, now time.Time) (replayKey string, until time.Time, err error)
	// signsURL reports whether the signature covers the request's URL,
	// query included; when it does not, the input refuses a query, which
	// would reach the function unsigned.
	signsURL() bool
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

// signatureName is the preset's name, for messages.
func signatureName(v verifier) string {
	switch v.(type) {
	case *twilioVerifier:
		return SignatureTwilio
	case *githubVerifier:
		return SignatureGitHub
	case *stripeVerifier:
		return SignatureStripe
	case *slackVerifier:
		return SignatureSlack
	}
	return SignatureHMAC
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
// body's SHA-256 in its bodySHA256 query parameter: such a body without it is
// refused, or any body would pass under a signature of the URL alone.
//
// Twilio signs neither the method nor a form's bytes: the input takes one
// method only, and a form may be re-cut between names and values ("a=bc" and
// "ab=c" sign alike) — replayWindow refuses such a copy of a handled request.
type twilioVerifier struct {
	token     []byte
	publicURL string
}

func (v *twilioVerifier) signsURL() bool { return true }

func (v *twilioVerifier) verify(r *nethttp.Request, body []byte, _ time.Time) (string, time.Time, error) {
	got := r.Header.Get("X-Twilio-Signature")
	if got == "" {
		return "", time.Time{}, fmt.Errorf("%w: no X-Twilio-Signature header", ErrNoSignature)
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: the query is not valid: %v", ErrBadSignature, err)
	}
	signed := v.url(r)
	switch sums := query["bodySHA256"]; {
	case len(sums) > 1:
		return "", time.Time{}, fmt.Errorf("%w: bodySHA256 is given %d times", ErrBadSignature, len(sums))
	case len(sums) == 1:
		// The body is bound by its hash in the signed URL, whatever its
		// content type claims.
		sum := sha256.Sum256(body)
		if !hmac.Equal([]byte(strings.ToLower(sums[0])), []byte(hex.EncodeToString(sum[:]))) {
			return "", time.Time{}, fmt.Errorf("%w: bodySHA256 does not match the body", ErrBadSignature)
		}
	case isForm(r.Header.Get("Content-Type")):
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
	case len(body) > 0:
		return "", time.Time{}, fmt.Errorf("%w: a body that is not a form must be signed through bodySHA256 in the URL", ErrBadSignature)
	}
	want := base64.StdEncoding.EncodeToString(mac(sha1.New, v.token, []byte(signed)))
	if !hmac.Equal([]byte(got), []byte(want)) {
		return "", time.Time{}, ErrBadSignature
	}
	return "twilio:" + want, time.Time{}, nil
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
// of the body. GitHub signs no timestamp: the replay window is the input's
// replayWindow.
type githubVerifier struct{ secret []byte }

func (v *githubVerifier) signsURL() bool { return false }

func (v *githubVerifier) verify(r *nethttp.Request, body []byte, _ time.Time) (string, time.Time, error) {
	got, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")
	if !ok {
		return "", time.Time{}, fmt.Errorf("%w: no X-Hub-Signature-256 header with a sha256= value", ErrNoSignature)
	}
	want := hex.EncodeToString(mac(sha256.New, v.secret, body))
	if !hmac.Equal([]byte(strings.ToLower(got)), []byte(want)) {
		return "", time.Time{}, ErrBadSignature
	}
	return "github:" + want, time.Time{}, nil
}

// stripeVerifier checks Stripe-Signature: "t=<unix>,v1=<hex>[,v1=...]",
// the hex HMAC-SHA256 of "<t>.<body>"; any v1 may match (secret rotation).
type stripeVerifier struct {
	secret    []byte
	tolerance time.Duration
}

func (v *stripeVerifier) signsURL() bool { return false }

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

func (v *slackVerifier) signsURL() bool { return false }

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

func (v *hmacVerifier) signsURL() bool { return false }

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
