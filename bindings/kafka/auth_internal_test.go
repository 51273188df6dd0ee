package kafka

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tetherfn/tether/bindings"
)

// kfake has no OAUTHBEARER, so the OIDC mechanism is checked up to the bytes
// it would send: a token fetched with the client credentials, then the SASL
// OAUTHBEARER initial response carrying it and the extensions.
func TestOIDCMechanism(t *testing.T) {
	var calls atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		id, secret, _ := r.BasicAuth()
		if err := r.ParseForm(); err != nil || id != "tether" || secret != "s3cret" ||
			r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("scope") != "openid kafka" {
			http.Error(w, "bad client", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600})
	}))
	defer idp.Close()

	md := withDefaults(bindings.NewMetadata(map[string]string{
		"authType": "oidc", "oidcTokenEndpoint": idp.URL + "/token", "oidcClientID": "tether", "oidcClientSecret": "s3cret",
		"oidcScopes": "openid, kafka", "oidcExtensions": `{"logicalCluster":"lkc-1"}`,
	}))
	tc, mech, err := auth(md)
	if err != nil {
		t.Fatal(err)
	}
	if tc == nil {
		t.Error(`authType "oidc" without disableTls connects without TLS`)
	}
	if mech.Name() != "OAUTHBEARER" {
		t.Fatalf("mechanism %s", mech.Name())
	}
	for range 2 {
		_, first, err := mech.Authenticate(context.Background(), "127.0.0.1:9092")
		if err != nil {
			t.Fatal(err)
		}
		msg := string(first)
		if !strings.Contains(msg, "auth=Bearer tok-1\x01") || !strings.Contains(msg, "logicalCluster=lkc-1\x01") {
			t.Errorf("initial response %q lacks the token or the extension", msg)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("token endpoint called %d times for two logins; the token is cached until it expires", n)
	}

	bad := withDefaults(bindings.NewMetadata(map[string]string{
		"authType": "oidc", "oidcTokenEndpoint": idp.URL + "/token", "oidcClientID": "tether", "oidcClientSecret": "wrong",
	}))
	_, mech, err = auth(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := mech.Authenticate(context.Background(), "127.0.0.1:9092"); err == nil {
		t.Error("a refused token request gave a login")
	}
}

func TestCommitMetadataRoundTrip(t *testing.T) {
	p := newPartition(topicPartition{"t", 0})
	p.popped, p.poppedOff = true, 11
	p.window = append(p.window, []slot{{offset: 12, d: &delivery{count: 2}}, {offset: 13}, {offset: 14}, {offset: 15, d: &delivery{count: 1}}, {offset: 17}}...)
	md := p.commitMetadata(12)
	if want := "tether/1;d=12:2,15:1;a=13-14,17"; md != want {
		t.Fatalf("commitMetadata(12) = %q, want %q", md, want)
	}
	s, err := parseSeed(md, 12)
	if err != nil {
		t.Fatal(err)
	}
	for off, want := range map[int64]bool{11: false, 12: false, 13: true, 14: true, 15: false, 16: false, 17: true, 18: false} {
		if s.ackedAt(off) != want {
			t.Errorf("ackedAt(%d) = %v", off, !want)
		}
	}
	if s.deliveries[12] != 2 || s.deliveries[15] != 1 {
		t.Errorf("deliveries %v", s.deliveries)
	}
	// A commit behind the window (an older mark) says the popped records
	// were acked.
	if md := p.commitMetadata(10); !strings.Contains(md, "a=10-11,13-14,17") {
		t.Errorf("commitMetadata(10) = %q", md)
	}
	for _, other := range []string{"", "tether-member-1", "tether/1;d=x", "tether/1;a=9-3"} {
		s, err := parseSeed(other, 0)
		if strings.HasPrefix(other, metaPrefix) && len(other) > len(metaPrefix) {
			if err == nil {
				t.Errorf("parseSeed(%q) accepted it", other)
			}
			continue
		}
		if err != nil || s.ackedAt(0) || len(s.deliveries) > 0 {
			t.Errorf("parseSeed(%q) = %+v, %v; want an empty seed", other, s, err)
		}
	}
}
