package http

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"maps"
	nethttp "net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// The fuzz targets check, for each signature scheme, the property the
// input promises: a request accepted with a signature cannot be changed —
// body, URL (path and query) or method — and still be accepted. Each run
// signs an original request the way the sender does, checks that the input
// accepts it, then changes it as the fuzzer says while keeping its headers
// (the signature among them): if the input accepts the change, the change
// must be none, or (Twilio forms only) one that Twilio's scheme documents as
// signing alike. .ci/run runs each for a few seconds.

const fuzzSecret = "whsec_fuzz_0123456789"

// fuzzSigner signs r, whose body is body, as the sender would at now; it may
// add to r's query (Twilio's bodySHA256).
type fuzzSigner func(r *nethttp.Request, body []byte, now time.Time)

var contentTypes = []string{"application/x-www-form-urlencoded", "application/json", "text/plain", ""}

func hexHMAC(secret string, parts ...string) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func fuzzVerifier(f *testing.F, md map[string]string, sign fuzzSigner, twilio bool) {
	md["direction"] = "input"
	opened, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "hook", Type: TypeName, Metadata: md})
	if err != nil {
		f.Fatal(err)
	}
	in := opened.(*input)
	f.Cleanup(func() { in.Close() })
	// Seeds: the original, then the change. A form and a JSON body, each
	// unchanged, with another body, method, path, query or content type.
	form := "Body=hello&From=%2B15550000001&MessageSid=SM1"
	json := `{"action":"opened","number":1}`
	f.Add(form, "", uint8(0), form, "", "POST", "/hook", uint8(0))
	f.Add(json, "", uint8(1), json, "", "POST", "/hook", uint8(1))
	f.Add(json, "", uint8(1), `{"action":"closed","number":1}`, "", "POST", "/hook", uint8(1))
	f.Add(json, "", uint8(1), json, "", "PUT", "/hook", uint8(1))
	f.Add(json, "", uint8(1), json, "", "POST", "/other", uint8(1))
	f.Add(json, "", uint8(1), json, "admin=1", "POST", "/hook", uint8(1))
	f.Add(json, "", uint8(1), "", "", "POST", "/hook", uint8(0))
	f.Add(form, "tenant=a", uint8(0), form, "tenant=b", "POST", "/hook", uint8(0))
	f.Add(form, "", uint8(0), "From=%2B15550000001&Body=hello&MessageSid=SM1", "", "POST", "/hook", uint8(0))
	f.Add(form, "", uint8(0), "Body=hel&loFrom=%2B15550000001&MessageSid=SM1", "", "POST", "/hook", uint8(0))
	f.Add(form, "", uint8(0), form, "", "POST", "/hook", uint8(1))
	f.Add("", "", uint8(3), json, "", "POST", "/hook", uint8(1))

	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, body, query string, ct uint8, newBody, newQuery, newMethod, newPath string, newCT uint8) {
		orig, err := nethttp.NewRequest(nethttp.MethodPost, "http://hooks.example.com/hook", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		orig.URL.RawQuery = query
		if c := contentTypes[int(ct)%len(contentTypes)]; c != "" {
			orig.Header.Set("Content-Type", c)
		}
		sign(orig, []byte(body), now)
		if _, _, err := in.authenticate(orig, []byte(body), now); err != nil {
			return // not a request the sender would send (a query where none is signed, a bad form...)
		}

		changed, err := nethttp.NewRequest(newMethod, "http://hooks.example.com/", strings.NewReader(newBody))
		if err != nil {
			return
		}
		changed.URL.Path, changed.URL.RawQuery = newPath, newQuery
		changed.Header = orig.Header.Clone()
		if c := contentTypes[int(newCT)%len(contentTypes)]; c != "" {
			changed.Header.Set("Content-Type", c)
		} else {
			changed.Header.Del("Content-Type")
		}
		if _, _, err := in.authenticate(changed, []byte(newBody), now); err != nil {
			return
		}
		switch {
		case changed.Method != orig.Method:
			t.Errorf("accepted under method %q; signed as %q", changed.Method, orig.Method)
		case changed.URL.Path != orig.URL.Path:
			t.Errorf("accepted at path %q; signed for %q", changed.URL.Path, orig.URL.Path)
		case changed.URL.RawQuery != orig.URL.RawQuery:
			t.Errorf("accepted with query %q; signed with %q", changed.URL.RawQuery, orig.URL.RawQuery)
		case newBody != body && !(twilio && sameTwilioForm(orig, body, newBody)):
			t.Errorf("accepted with body %q; signed with %q", newBody, body)
		}
	})
}

// sameTwilioForm: Twilio signs a form's parameters sorted by name, each name
// then value, without separators, so two forms whose concatenations are
// equal sign alike — the documented limit of its scheme. It never applies to
// a body bound by bodySHA256.
func sameTwilioForm(orig *nethttp.Request, a, b string) bool {
	if orig.URL.Query().Has("bodySHA256") {
		return false
	}
	concat := func(body string) (string, bool) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return "", false
		}
		var s strings.Builder
		for _, k := range slices.Sorted(maps.Keys(form)) {
			vs := slices.Clone(form[k])
			slices.Sort(vs)
			for _, v := range vs {
				s.WriteString(k + v)
			}
		}
		return s.String(), true
	}
	ca, okA := concat(a)
	cb, okB := concat(b)
	return okA && okB && ca == cb
}

func FuzzTwilio(f *testing.F) {
	fuzzVerifier(f, map[string]string{"signature": "twilio", "authToken": fuzzSecret}, func(r *nethttp.Request, body []byte, _ time.Time) {
		var signed bytes.Buffer
		if isForm(r.Header.Get("Content-Type")) {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return
			}
			signed.WriteString("http://hooks.example.com" + r.URL.RequestURI())
			for _, k := range slices.Sorted(maps.Keys(form)) {
				vs := slices.Clone(form[k])
				slices.Sort(vs)
				for _, v := range vs {
					signed.WriteString(k + v)
				}
			}
		} else {
			if len(body) > 0 {
				sum := sha256.Sum256(body)
				q := r.URL.RawQuery
				if q != "" {
					q += "&"
				}
				r.URL.RawQuery = q + "bodySHA256=" + hex.EncodeToString(sum[:])
			}
			signed.WriteString("http://hooks.example.com" + r.URL.RequestURI())
		}
		m := hmac.New(sha1.New, []byte(fuzzSecret))
		m.Write(signed.Bytes())
		r.Header.Set("X-Twilio-Signature", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}, true)
}

func FuzzGitHub(f *testing.F) {
	fuzzVerifier(f, map[string]string{"signature": "github", "secret": fuzzSecret}, func(r *nethttp.Request, body []byte, _ time.Time) {
		r.Header.Set("X-Hub-Signature-256", "sha256="+hexHMAC(fuzzSecret, string(body)))
	}, false)
}

func FuzzStripe(f *testing.F) {
	fuzzVerifier(f, map[string]string{"signature": "stripe", "secret": fuzzSecret}, func(r *nethttp.Request, body []byte, now time.Time) {
		ts := strconv.FormatInt(now.Unix(), 10)
		r.Header.Set("Stripe-Signature", "t="+ts+",v1="+hexHMAC(fuzzSecret, ts, ".", string(body)))
	}, false)
}

func FuzzSlack(f *testing.F) {
	fuzzVerifier(f, map[string]string{"signature": "slack", "secret": fuzzSecret}, func(r *nethttp.Request, body []byte, now time.Time) {
		ts := strconv.FormatInt(now.Unix(), 10)
		r.Header.Set("X-Slack-Request-Timestamp", ts)
		r.Header.Set("X-Slack-Signature", "v0="+hexHMAC(fuzzSecret, "v0:", ts, ":", string(body)))
	}, false)
}

func FuzzHMAC(f *testing.F) {
	fuzzVerifier(f, map[string]string{"signature": "hmac", "secret": fuzzSecret}, func(r *nethttp.Request, body []byte, now time.Time) {
		ts := strconv.FormatInt(now.Unix(), 10)
		r.Header.Set("X-Timestamp", ts)
		r.Header.Set("X-Signature", hexHMAC(fuzzSecret, ts, ".", string(body)))
	}, false)
}
