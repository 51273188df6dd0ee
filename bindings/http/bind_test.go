package http_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	tetherhttp "github.com/tetherfn/tether/bindings/http"
	"github.com/tetherfn/tether/trigger"
)

// What a signature binds: each case below was accepted before the
// signature checks pinned it.

// TestTwilioBindsTheBody: a body that is not a form is bound only through
// bodySHA256 in the signed URL; a signature over the URL alone admits no
// body, and a request whose URL carries bodySHA256 is held to it whatever
// its content type says.
func TestTwilioBindsTheBody(t *testing.T) {
	c := newCalls()
	base := webhook(t, map[string]string{"signature": "twilio", "authToken": testSecret},
		func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			c.add(m)
			return trigger.Result{}, nil
		})
	json := `{"marker":"json"}`
	sum := sha256.Sum256([]byte(json))
	withSum := base + "/hook?bodySHA256=" + hex.EncodeToString(sum[:])
	sig := func(u string) []string {
		return []string{"X-Twilio-Signature", twilioSign(u, "", time.Time{}, testSecret)["X-Twilio-Signature"]}
	}
	for _, tc := range []struct {
		what, url, contentType, body string
		signedURL                    string
		want                         int
	}{
		{"JSON under a signature of the URL alone", base + "/hook", "application/json", json, base + "/hook", 401},
		{"text under a signature of the URL alone", base + "/hook", "text/plain", "anything", base + "/hook", 401},
		{"JSON with its bodySHA256", withSum, "application/json", json, withSum, 204},
		{"another JSON under the same bodySHA256", withSum, "application/json", `{"marker":"evil"}`, withSum, 401},
		{"the bodySHA256 URL with an empty form", withSum, "application/x-www-form-urlencoded", "", withSum, 401},
		{"no body under a signature of the URL alone", base + "/hook", "", "", base + "/hook", 204},
	} {
		if resp, body := post(t, tc.url, tc.contentType, tc.body, sig(tc.signedURL)...); resp.StatusCode != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.what, resp.StatusCode, body, tc.want)
		}
	}
	if got := c.payloads(); len(got) != 2 || got[0] != json || got[1] != "" {
		t.Errorf("the handler ran for %q; want the JSON with its bodySHA256, then the empty request", got)
	}
}

// TestSignedWebhookPinsMethodAndQuery: no scheme signs the method, so a
// signed webhook takes one; only Twilio signs the URL, so only its webhook
// takes a query.
func TestSignedWebhookPinsMethodAndQuery(t *testing.T) {
	for _, sig := range []map[string]string{
		{"signature": "github", "secret": "s"},
		{"signature": "twilio", "authToken": "t"},
		{"signature": "stripe", "secret": "s"},
	} {
		md := map[string]string{"direction": "input", "methods": "POST, PUT"}
		for k, v := range sig {
			md[k] = v
		}
		_, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "hook", Type: tetherhttp.TypeName, Metadata: md})
		var ke *bindings.KeyError
		if !errors.As(err, &ke) || ke.Key != "methods" {
			t.Errorf("%s with methods POST, PUT: %v, want a methods error", sig["signature"], err)
		}
	}

	c := newCalls()
	gh := webhook(t, map[string]string{"signature": "github", "secret": testSecret},
		func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			c.add(m)
			return trigger.Result{}, nil
		})
	body := `{"marker":"gh"}`
	h := []string{"X-Hub-Signature-256", "sha256=" + hexMAC(testSecret, body)}
	if resp, msg := post(t, gh+"/hook?admin=true", "application/json", body, h...); resp.StatusCode != 401 || !strings.Contains(msg, "query") {
		t.Errorf("github with a query the signature does not cover: %d %q, want 401", resp.StatusCode, msg)
	}
	if resp, _ := post(t, gh+"/hook", "application/json", body, h...); resp.StatusCode != 204 {
		t.Errorf("github without a query: %d, want 204", resp.StatusCode)
	}

	tw := webhook(t, map[string]string{"signature": "twilio", "authToken": testSecret},
		func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			c.add(m)
			return trigger.Result{}, nil
		})
	form := url.Values{"Body": {"hi"}, "From": {"+15550000001"}}.Encode()
	signed := tw + "/hook?tenant=a"
	th := []string{"X-Twilio-Signature", twilioSign(signed, form, time.Time{}, testSecret)["X-Twilio-Signature"]}
	if resp, _ := post(t, signed, "application/x-www-form-urlencoded", form, th...); resp.StatusCode != 204 {
		t.Errorf("twilio with its signed query: %d, want 204", resp.StatusCode)
	}
	if resp, _ := post(t, tw+"/hook?tenant=b", "application/x-www-form-urlencoded", form, th...); resp.StatusCode != 401 {
		t.Errorf("twilio with another query: %d, want 401", resp.StatusCode)
	}
	if n := len(c.payloads()); n != 2 {
		t.Errorf("the handler ran %d times, want 2", n)
	}
}
