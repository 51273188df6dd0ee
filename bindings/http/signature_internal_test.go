package http

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Known answers from the senders' own documentation, so that the checks
// agree with the real services and not only with this package's idea of them.

func TestTwilioDocumentedSignature(t *testing.T) {
	// Twilio's "Validating signatures" example: auth token 12345.
	body := "CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234&From=%2B14158675310&To=%2B18005551212"
	v := &twilioVerifier{token: []byte("12345"), publicURL: "https://mycompany.com/myapp.php"}
	r := httptest.NewRequest(nethttp.MethodPost, "http://10.0.0.1:8080/myapp.php?foo=1&bar=2", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Twilio-Signature", "GvWf1cFY/Q7PnoempGyD5oXAezc=")
	if _, _, err := v.verify(r, []byte(body), time.Now()); err != nil {
		t.Errorf("Twilio's documented example: %v", err)
	}
	// Without publicURL, the URL is rebuilt from the request: here not the
	// one Twilio signed.
	v.publicURL = ""
	if _, _, err := v.verify(r, []byte(body), time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("rebuilt URL http://10.0.0.1:8080/...: %v, want ErrBadSignature", err)
	}
	r.Host = "mycompany.com"
	r.Header.Set("X-Forwarded-Proto", "https")
	if _, _, err := v.verify(r, []byte(body), time.Now()); err != nil {
		t.Errorf("URL rebuilt from Host and X-Forwarded-Proto: %v", err)
	}
}

func TestTwilioJSONBody(t *testing.T) {
	// JSON bodies: Twilio signs the URL only, which carries the body's
	// SHA-256 in bodySHA256.
	body := `{"property": "value", "boolean": true}`
	const sum = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
	u := "https://mycompany.com/myapp.php?bodySHA256=" + sum
	v := &twilioVerifier{token: []byte("12345"), publicURL: "https://mycompany.com/myapp.php"}
	sign := func(s string) string { return twilioSignature("12345", s) }
	r := httptest.NewRequest(nethttp.MethodPost, "/myapp.php?bodySHA256="+sum, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Twilio-Signature", sign(u))
	if _, _, err := v.verify(r, []byte(body), time.Now()); err != nil {
		t.Errorf("JSON body with matching bodySHA256: %v", err)
	}
	if _, _, err := v.verify(r, []byte(body+" "), time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("JSON body changed after signing: %v, want ErrBadSignature", err)
	}
}

func twilioSignature(token, s string) string {
	return base64Std(mac(sha1New, []byte(token), []byte(s)))
}

func TestSlackDocumentedSignature(t *testing.T) {
	// Slack's "Verifying requests from Slack" example.
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	v := &slackVerifier{secret: []byte("8f742231b10e8888abcd99yyyzzz85a5"), tolerance: 5 * time.Minute}
	r := httptest.NewRequest(nethttp.MethodPost, "/slack", strings.NewReader(body))
	r.Header.Set("X-Slack-Request-Timestamp", "1531420618")
	r.Header.Set("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	signedAt := time.Unix(1531420618, 0)
	key, until, err := v.verify(r, []byte(body), signedAt.Add(time.Minute))
	if err != nil {
		t.Fatalf("Slack's documented example: %v", err)
	}
	if key == "" || !until.Equal(signedAt.Add(5*time.Minute)) {
		t.Errorf("replay key %q until %v", key, until)
	}
	if _, _, err := v.verify(r, []byte(body), time.Now()); !errors.Is(err, ErrStale) {
		t.Errorf("the same request years later: %v, want ErrStale", err)
	}
}

func TestGitHubDocumentedSignature(t *testing.T) {
	// GitHub's "Validating webhook deliveries" example.
	v := &githubVerifier{secret: []byte("It's a Secret to Everybody")}
	r := httptest.NewRequest(nethttp.MethodPost, "/gh", nil)
	r.Header.Set("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
	if _, _, err := v.verify(r, []byte("Hello, World!"), time.Now()); err != nil {
		t.Errorf("GitHub's documented example: %v", err)
	}
	if _, _, err := v.verify(r, []byte("Hello, World?"), time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed payload: %v", err)
	}
}

func TestMemoryReplay(t *testing.T) {
	ctx := context.Background()
	c := newMemoryReplay(3, time.Minute)
	now := time.Now()
	if err := c.reserve(ctx, "a", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := c.reserve(ctx, "a", now.Add(time.Hour), now); !errors.Is(err, errInFlight) {
		t.Errorf("in flight: %v", err)
	}
	c.settle(ctx, "a", now.Add(time.Hour), false)
	if err := c.reserve(ctx, "a", now.Add(time.Hour), now); err != nil {
		t.Errorf("after a failure the retry is accepted: %v", err)
	}
	c.settle(ctx, "a", now.Add(time.Hour), true)
	if err := c.reserve(ctx, "a", now.Add(time.Hour), now); !errors.Is(err, ErrReplayed) {
		t.Errorf("after success: %v, want ErrReplayed", err)
	}
	// Handled, it is kept for the whole window, beyond the in-flight lapse.
	if err := c.reserve(ctx, "a", now.Add(time.Hour), now.Add(30*time.Minute)); !errors.Is(err, ErrReplayed) {
		t.Errorf("within the window: %v, want ErrReplayed", err)
	}
	// In flight, a mark lapses after inFlightTTL: a replica lost mid-request
	// does not block the sender's retries for the whole window.
	if err := c.reserve(ctx, "b", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := c.reserve(ctx, "b", now.Add(time.Hour), now.Add(2*time.Minute)); err != nil {
		t.Errorf("in flight past inFlightTTL: %v, want accepted", err)
	}
	// Past its size the least recently reserved goes first: "a".
	for _, k := range []string{"c", "d"} {
		if err := c.reserve(ctx, k, now.Add(time.Hour), now); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.len(); n != 3 {
		t.Errorf("%d keys kept, want the size, 3", n)
	}
	if err := c.reserve(ctx, "a", now.Add(time.Hour), now); err != nil {
		t.Errorf("the oldest key past the size: %v, want forgotten (accepted)", err)
	}
	// Expired keys are swept.
	later := now.Add(2 * time.Hour)
	if err := c.reserve(ctx, "e", later.Add(time.Minute), later); err != nil {
		t.Fatal(err)
	}
	if n := c.len(); n != 1 {
		t.Errorf("%d keys kept after all expired, want 1", n)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "512Ki": 512 << 10, "4Mi": 4 << 20, "10M": 10e6, "1k": 1000, " 2 Gi": 2 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "4MB", "lots", "1.5Mi", "99999999999Ti"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

var sha1New = sha1.New

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
