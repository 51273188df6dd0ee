package smsreply_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"sync"
	"testing"
)

// Test credentials. The account's auth token both signs Twilio's webhook
// calls and authenticates our calls to its API.
const (
	accountSid = "AC00000000000000000000000000000001"
	authToken  = "test-auth-token-0123456789abcdef"
	ourNumber  = "+15005550006"
	publicURL  = "https://sms.example.com/sms"
)

// fakeTwilio stands in for Twilio's Messages API: it checks what the real
// one checks (path, basic auth, form) and records every message.
type fakeTwilio struct {
	*httptest.Server
	mu      sync.Mutex
	sent    []url.Values
	failing bool
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+accountSid+"/Messages.json" {
			http.Error(w, `{"code": 20404, "message": "not found", "status": 404}`, 404)
			return
		}
		if !ok || user != accountSid || pass != authToken {
			http.Error(w, `{"code": 20003, "message": "Authenticate", "status": 401}`, http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(body))
		if err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, `{"code": 21601, "message": "bad request", "status": 400}`, 400)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.failing {
			http.Error(w, `{"code": 20500, "message": "Internal Server Error", "status": 500}`, 500)
			return
		}
		f.sent = append(f.sent, form)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid": "SM%032d", "status": "queued", "to": %q, "from": %q}`, len(f.sent), form.Get("To"), form.Get("From"))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTwilio) messages() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

func (f *fakeTwilio) fail(on bool) {
	f.mu.Lock()
	f.failing = on
	f.mu.Unlock()
}

// inbound is the form Twilio posts for a text message that comes in.
func inbound(sid, from, body string) url.Values {
	return url.Values{
		"MessageSid": {sid}, "SmsMessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {accountSid},
		"From": {from}, "To": {ourNumber}, "Body": {body}, "NumMedia": {"0"}, "NumSegments": {"1"},
		"SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"}, "FromCountry": {"US"}, "ToCountry": {"US"},
	}
}

// signature is X-Twilio-Signature as Twilio computes it: the URL it calls,
// then each POST parameter sorted by name, name and value, without
// separators; HMAC-SHA1 with the auth token; base64.
func signature(token, u string, form url.Values) string {
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
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
