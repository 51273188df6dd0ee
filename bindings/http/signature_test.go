package http_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	tetherhttp "github.com/tetherfn/tether/bindings/http"
	"github.com/tetherfn/tether/trigger"
)

const testSecret = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"

func hexMAC(secret string, parts ...string) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// signer signs a request the way one sender does: it returns the headers
// to send for body, signed at ts with secret, to the URL u.
type signer func(u, body string, ts time.Time, secret string) map[string]string

// twilioSign follows Twilio's documentation: the URL, then the POST
// parameters sorted by name, each name and value, HMAC-SHA1, base64.
func twilioSign(u, body string, _ time.Time, token string) map[string]string {
	form, _ := url.ParseQuery(body)
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	sort.Strings(names)
	s := u
	for _, k := range names {
		for _, v := range form[k] {
			s += k + v
		}
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(s))
	return map[string]string{"X-Twilio-Signature": base64.StdEncoding.EncodeToString(m.Sum(nil))}
}

var presets = []struct {
	name        string
	md          map[string]string
	contentType string
	sign        signer
	timestamped bool
}{
	{
		name: "twilio", md: map[string]string{"signature": "twilio", "authToken": testSecret},
		contentType: "application/x-www-form-urlencoded", sign: twilioSign,
	},
	{
		name: "github", md: map[string]string{"signature": "github", "secret": testSecret}, contentType: "application/json",
		sign: func(_, body string, _ time.Time, secret string) map[string]string {
			return map[string]string{"X-Hub-Signature-256": "sha256=" + hexMAC(secret, body), "X-GitHub-Event": "push"}
		},
	},
	{
		name: "stripe", md: map[string]string{"signature": "stripe", "secret": testSecret}, contentType: "application/json", timestamped: true,
		sign: func(_, body string, ts time.Time, secret string) map[string]string {
			t := strconv.FormatInt(ts.Unix(), 10)
			// A rotated-out secret's signature first: any v1 may match.
			return map[string]string{"Stripe-Signature": "t=" + t + ",v1=" + hexMAC("old", t, ".", body) + ",v1=" + hexMAC(secret, t, ".", body) + ",v0=ignored"}
		},
	},
	{
		name: "slack", md: map[string]string{"signature": "slack", "secret": testSecret}, contentType: "application/x-www-form-urlencoded", timestamped: true,
		sign: func(_, body string, ts time.Time, secret string) map[string]string {
			t := strconv.FormatInt(ts.Unix(), 10)
			return map[string]string{"X-Slack-Request-Timestamp": t, "X-Slack-Signature": "v0=" + hexMAC(secret, "v0:", t, ":", body)}
		},
	},
	{
		name: "hmac", md: map[string]string{"signature": "hmac", "secret": testSecret, "signatureHeader": "X-Acme-Signature", "timestampHeader": "X-Acme-Time"},
		contentType: "application/json", timestamped: true,
		sign: func(_, body string, ts time.Time, secret string) map[string]string {
			t := strconv.FormatInt(ts.Unix(), 10)
			return map[string]string{"X-Acme-Time": t, "X-Acme-Signature": "sha256=" + hexMAC(secret, t, ".", body)}
		},
	},
	{
		name: "hmac base64", md: map[string]string{"signature": "hmac", "secret": testSecret, "signatureEncoding": "base64"},
		contentType: "application/json", timestamped: true,
		sign: func(_, body string, ts time.Time, secret string) map[string]string {
			t := strconv.FormatInt(ts.Unix(), 10)
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte(t + "." + body))
			return map[string]string{"X-Timestamp": t, "X-Signature": base64.StdEncoding.EncodeToString(m.Sum(nil))}
		},
	},
}

func bodyFor(contentType, marker string) string {
	if strings.Contains(contentType, "form") {
		return url.Values{"Body": {marker}, "From": {"+15550000001"}, "MessageSid": {"SM" + marker}}.Encode()
	}
	return fmt.Sprintf(`{"marker":%q}`, marker)
}

// TestSignatures: for every preset, through the runtime, a valid signature
// passes; a wrong one, a tampered body, a missing one, a stale timestamp and
// a replay are each answered 401 and never reach the handler.
func TestSignatures(t *testing.T) {
	for _, p := range presets {
		t.Run(p.name, func(t *testing.T) {
			c := newCalls()
			md := map[string]string{}
			for k, v := range p.md {
				md[k] = v
			}
			base := webhook(t, md, func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
				c.add(m)
				return trigger.Result{Data: []byte("ok")}, nil
			})
			u := base + "/hook"
			send := func(body string, headers map[string]string) int {
				t.Helper()
				var h []string
				for k, v := range headers {
					h = append(h, k, v)
				}
				resp, _ := post(t, u, p.contentType, body, h...)
				return resp.StatusCode
			}
			now := time.Now()

			valid := bodyFor(p.contentType, "valid-1")
			validHeaders := p.sign(u, valid, now, testSecret)
			if code := send(valid, validHeaders); code != 200 {
				t.Fatalf("valid signature: %d, want 200", code)
			}

			rejected := map[string]struct {
				body    string
				headers map[string]string
			}{
				"wrong secret":  {bodyFor(p.contentType, "wrong-secret"), p.sign(u, bodyFor(p.contentType, "wrong-secret"), now, "not the secret")},
				"tampered body": {bodyFor(p.contentType, "tampered"), p.sign(u, bodyFor(p.contentType, "original"), now, testSecret)},
				"no signature":  {bodyFor(p.contentType, "unsigned"), nil},
			}
			if p.timestamped {
				stale := bodyFor(p.contentType, "stale")
				rejected["stale timestamp"] = struct {
					body    string
					headers map[string]string
				}{stale, p.sign(u, stale, now.Add(-6*time.Minute), testSecret)}
				future := bodyFor(p.contentType, "future")
				rejected["future timestamp"] = struct {
					body    string
					headers map[string]string
				}{future, p.sign(u, future, now.Add(6*time.Minute), testSecret)}
				rejected["replay"] = struct {
					body    string
					headers map[string]string
				}{valid, validHeaders}
			}
			for what, r := range rejected {
				if code := send(r.body, r.headers); code != 401 {
					t.Errorf("%s: %d, want 401", what, code)
				}
			}

			// A valid request after them: when it has been handled, the
			// handler has seen everything it ever will.
			sentinel := bodyFor(p.contentType, "valid-2")
			if code := send(sentinel, p.sign(u, sentinel, now, testSecret)); code != 200 {
				t.Fatalf("second valid request: %d", code)
			}
			if got := c.payloads(); !slices.Equal(got, []string{valid, sentinel}) {
				t.Errorf("the handler ran for %q; want only the two valid requests", got)
			}
		})
	}
}

// TestReplayAfterFailure: the sender's retry of a request that failed is
// the same signed request, and must be accepted; once it succeeded, it is a
// replay.
func TestReplayAfterFailure(t *testing.T) {
	var attempts atomic.Int32
	base := webhook(t, map[string]string{"signature": "hmac", "secret": testSecret},
		func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			if attempts.Add(1) == 1 {
				return trigger.Result{}, errors.New("flaky")
			}
			return trigger.Result{Data: []byte("ok")}, nil
		})
	u := base + "/hook"
	body := `{"n":1}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := []string{"X-Timestamp", ts, "X-Signature", hexMAC(testSecret, ts, ".", body)}
	for i, want := range []int{503, 200, 401} {
		if resp, _ := post(t, u, "application/json", body, h...); resp.StatusCode != want {
			t.Errorf("send %d of the same signed request: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	if n := attempts.Load(); n != 2 {
		t.Errorf("handler ran %d times, want 2", n)
	}
}

func TestSignatureSettings(t *testing.T) {
	for _, md := range []map[string]string{
		{"signature": "github"}, // no secret
		{"signature": "twilio"}, // no authToken
		{"signature": "twilio", "authToken": "t", "publicURL": "ftp://x"},
		{"signature": "hmac", "secret": "s", "signatureHeader": "bad header"},
		{"signature": "hmac", "secret": "s", "tolerance": "0"},
		{"signature": "sha1"},
	} {
		md["direction"] = "input"
		_, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "hook", Type: tetherhttp.TypeName, Metadata: md})
		if err == nil {
			t.Errorf("%v opened", md)
		}
	}
}
