package smsreply_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	smsreply "github.com/tetherfn/tether/examples/sms-reply"
	"github.com/tetherfn/tether/functions/fntest"
)

// TestEndToEnd runs the generated function on the runtime with the
// example's own components, serves the runtime's HTTP API on loopback, and
// plays Twilio on both sides: it posts signed inbound messages to the
// webhook, and stands in for the Messages API the replies go to.
func TestEndToEnd(t *testing.T) {
	api := newFakeTwilio(t)
	t.Setenv("TWILIO_ACCOUNT_SID", accountSid)
	t.Setenv("TWILIO_AUTH_TOKEN", authToken)
	t.Setenv("TWILIO_FROM_NUMBER", ourNumber)
	t.Setenv("TWILIO_API_URL", api.URL)
	// Twilio calls the public URL, which a proxy forwards to the runtime.
	t.Setenv("SMS_PUBLIC_URL", publicURL)

	rt := fntest.Start(t, []string{"components"}, smsreply.ReplyFunction())
	web := httptest.NewServer(rt.PublicHandler())
	defer web.Close()

	// post sends an inbound message to the webhook, signed with token.
	post := func(form url.Values, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, web.URL+"/sms", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", signature(token, publicURL, form))
		req.Header.Set("User-Agent", "TwilioProxy/1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	// A text comes in: the webhook answers 204 once the reply is sent.
	if resp := post(inbound("SM1", "+15551230001", "hours"), authToken); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("signed inbound message: %s, want 204", resp.Status)
	}
	sent := api.messages()
	if len(sent) != 1 {
		t.Fatalf("Twilio got %d messages, want 1", len(sent))
	}
	want := url.Values{"To": {"+15551230001"}, "From": {ourNumber}, "Body": {smsreply.Answer("HOURS")}}
	if sent[0].Encode() != want.Encode() {
		t.Errorf("reply %v, want %v", sent[0], want)
	}

	// A forged request (not signed with our auth token) never reaches the
	// function: 401, and nothing is sent.
	if resp := post(inbound("SM2", "+15551230002", "help"), "someone else's token"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged inbound message: %s, want 401", resp.Status)
	}
	if n := len(api.messages()); n != 1 {
		t.Errorf("Twilio got %d messages after a forged request, want still 1", n)
	}

	// Twilio's API fails: the webhook answers 503 with Retry-After, and
	// Twilio's retry of the same request goes through once the API is back.
	api.fail(true)
	msg := inbound("SM3", "+15551230003", "help")
	resp := post(msg, authToken)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("reply failed: %s (Retry-After %q), want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	api.fail(false)
	if resp := post(msg, authToken); resp.StatusCode != http.StatusNoContent {
		t.Errorf("Twilio's retry: %s, want 204", resp.Status)
	}
	sent = api.messages()
	if len(sent) != 2 || sent[1].Get("To") != "+15551230003" || sent[1].Get("Body") != smsreply.Answer("help") {
		t.Errorf("after the retry Twilio has %v", sent)
	}
}
