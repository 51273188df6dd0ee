package redact_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/tetherfn/tether/internal/redact"
)

// Passwords holding each character that breaks naive URL handling.
var passwords = []string{"pa/ss1", "pa?ss2", "pa#ss3", "pa%ss4", "pa@ss5", "pa:ss6", "p/?#%@:7"}

// forms are the ways a library may print pw.
func forms(pw string) []string {
	q := strconv.Quote(pw)
	return []string{pw, url.PathEscape(pw), url.QueryEscape(pw), strings.ToLower(url.QueryEscape(pw)),
		strings.TrimPrefix(url.UserPassword("u", pw).String(), "u:"), q[1 : len(q)-1]}
}

func TestStringHidesEveryForm(t *testing.T) {
	for _, pw := range passwords {
		r := redact.New(pw)
		for _, f := range forms(pw) {
			if got := r.String("before " + f + " after"); got != "before *** after" {
				t.Errorf("password %q, form %q: got %q", pw, f, got)
			}
		}
	}
}

func TestFindURLPasswords(t *testing.T) {
	for _, pw := range passwords {
		for _, s := range []string{
			"amqp://guest:" + pw + "@127.0.0.1:5672/vhost",
			"redis://:" + pw + "@127.0.0.1:6379/0",
			"a,b,nats://u:" + pw + "@h:4222",
			"host=127.0.0.1 user=u password='" + pw + "' dbname=x",
		} {
			r := redact.New(redact.Find(s)...)
			if got := r.String("dial " + s + ": refused, password " + pw); strings.Contains(got, pw) {
				t.Errorf("%q: %q", s, got)
			}
		}
	}
	// Escaped in the URL, decoded by the driver: both hidden.
	r := redact.New(redact.Find("amqp://u:p%2Fss%40word@h/")...)
	if got := r.String("p/ss@word p%2Fss%40word"); got != "*** ***" {
		t.Errorf("escaped password: %q", got)
	}
	// A parser that splits the password quotes a piece of it.
	r = redact.New(redact.Find("http://u:s3cr#T#w0rd@127.0.0.1:1/")...)
	if got := r.String(`parse "http://u:s3cr#T#w0rd@127.0.0.1:1/": invalid port ":s3cr" after host`); strings.Contains(got, "s3cr") {
		t.Errorf("piece of a password: %q", got)
	}
	if got := redact.Find("http://127.0.0.1:8080/path https://example.com/a"); len(got) != 0 {
		t.Errorf("URLs without userinfo: found %q", got)
	}
}

func TestErrorKeepsChain(t *testing.T) {
	r := redact.New("s3cr/et")
	err := r.Error(fmt.Errorf("open amqp://u:s3cr/et@h: %w", fs.ErrNotExist))
	if strings.Contains(err.Error(), "s3cr") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v (Is ErrNotExist %v)", err, errors.Is(err, fs.ErrNotExist))
	}
	plain := errors.New("nothing secret")
	if r.Error(plain) != plain || r.Error(nil) != nil {
		t.Error("an error without secret must be returned as is")
	}
	if p := r.Panic("boom s3cr/et"); fmt.Sprint(p) != "boom ***" {
		t.Errorf("panic value: %v", p)
	}
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

func TestHandlerRedactsEveryAttr(t *testing.T) {
	var buf bytes.Buffer
	r := redact.New("hunter2/x")
	log := slog.New(r.Handler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log = log.With("url", "redis://:hunter2/x@h").WithGroup("g")
	log.Debug("dial redis://:hunter2%2Fx@h failed",
		"err", errors.New("auth hunter2/x"), "s", stringer{"hunter2/x"},
		"m", map[string]string{"k": "hunter2/x"}, slog.Group("in", "v", "hunter2/x"), "n", 42)
	out := buf.String()
	if strings.Contains(out, "hunter2") || strings.Count(out, "***") != 6 || !strings.Contains(out, `"n":42`) {
		t.Errorf("log line: %s", out)
	}
	if redact.New().Handler(slog.DiscardHandler) != slog.DiscardHandler {
		t.Error("an empty Redactor must not wrap")
	}
}

func TestShortValuesIgnored(t *testing.T) {
	if got := redact.New("on", "").String("on and on"); got != "on and on" {
		t.Errorf("got %q", got)
	}
}
