// Package redact keeps secret values out of text: error messages, log
// records, listings. A Redactor is built once from the secret values of the
// components (and the passwords of the URLs their metadata holds) and then
// replaces every occurrence of any of them, in every encoding a library is
// likely to print it in, with "***".
//
//	r := redact.New(redact.Find(host)...)
//	err = r.Error(err)                               // Error() redacted, errors.Is/As still work
//	logger := slog.New(r.Handler(logger.Handler())) // every record redacted
//
// It is one mechanism for every driver, so that no driver has to know which
// of its errors or its client library's log lines may quote a URL.
package redact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Mask replaces every secret.
const Mask = "***"

// MinLen is the length below which a value is not searched for: replacing
// every "1" or "on" of every line would garble the logs and protect nothing
// worth protecting.
const MinLen = 4

// Redactor replaces secret values with Mask. The zero value and nil redact
// nothing. It is safe for concurrent use.
type Redactor struct {
	secrets []string // as given, for Merge
	rep     *strings.Replacer
}

// New returns a Redactor for the given secret values; each is also searched
// for in its URL-escaped (path, query and userinfo forms, upper and lower
// case hex), Go-quoted and JSON-escaped forms, and, when it holds %-escapes,
// in its unescaped forms.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	seen := map[string]bool{}
	var needles []string
	add := func(s string) {
		if len(s) >= MinLen && !seen[s] && s != Mask {
			seen[s] = true
			needles = append(needles, s)
		}
	}
	for _, s := range secrets {
		if len(s) < MinLen || slices.Contains(r.secrets, s) {
			continue
		}
		r.secrets = append(r.secrets, s)
		forms := []string{s}
		if u, err := url.PathUnescape(s); err == nil && u != s {
			forms = append(forms, u)
		}
		if u, err := url.QueryUnescape(s); err == nil && u != s {
			forms = append(forms, u)
		}
		for _, f := range forms {
			for _, v := range variants(f) {
				add(v)
			}
		}
	}
	if len(needles) == 0 {
		return r
	}
	// At one position the longest needle must win, so that a secret which
	// contains another is masked whole: NewReplacer tries them in order.
	slices.SortFunc(needles, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(needles))
	for _, n := range needles {
		pairs = append(pairs, n, Mask)
	}
	r.rep = strings.NewReplacer(pairs...)
	return r
}

// variants lists the forms in which s may be printed.
func variants(s string) []string {
	out := []string{s}
	escaped := []string{
		url.PathEscape(s),
		url.QueryEscape(s),
		strings.TrimPrefix(url.UserPassword("u", s).String(), "u:"), // userinfo escaping
		(&url.URL{Path: s}).EscapedPath(),
	}
	for _, e := range escaped {
		out = append(out, e, lowerHex(e))
	}
	if q := strconv.Quote(s); len(q) >= 2 {
		out = append(out, q[1:len(q)-1])
	}
	if j, err := json.Marshal(s); err == nil && len(j) >= 2 {
		out = append(out, string(j[1:len(j)-1]))
	}
	return out
}

var hexEscape = regexp.MustCompile(`%[0-9A-F]{2}`)

func lowerHex(s string) string { return hexEscape.ReplaceAllStringFunc(s, strings.ToLower) }

// Merge returns a Redactor that hides the secrets of r and of others.
func Merge(rs ...*Redactor) *Redactor {
	var all []string
	for _, r := range rs {
		if r != nil {
			all = append(all, r.secrets...)
		}
	}
	return New(all...)
}

// Empty reports whether r hides nothing.
func (r *Redactor) Empty() bool { return r == nil || r.rep == nil }

// String returns s with every secret replaced by Mask.
func (r *Redactor) String(s string) string {
	if r.Empty() {
		return s
	}
	return r.rep.Replace(s)
}

// Error returns err with its message redacted; errors.Is and errors.As still
// reach the errors it wraps (whose own messages are not redacted: print the
// returned error, not what errors.As finds). Nil stays nil, and an error
// whose message holds no secret is returned as is.
func (r *Redactor) Error(err error) error {
	if err == nil || r.Empty() {
		return err
	}
	msg := err.Error()
	red := r.rep.Replace(msg)
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Panic returns a panic value that is safe to print: v itself when its text
// holds no secret, else an error with the redacted text (wrapping v when v is
// an error).
func (r *Redactor) Panic(v any) any {
	if r.Empty() {
		return v
	}
	if err, ok := v.(error); ok {
		return r.Error(err)
	}
	s := fmt.Sprint(v)
	if red := r.rep.Replace(s); red != s {
		return errors.New(red)
	}
	return v
}

// Handler wraps h so that the message and every attribute of every record
// is redacted before h sees it. With nothing to hide it returns h.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	if r.Empty() {
		return h
	}
	if rh, ok := h.(*handler); ok { // one layer, hiding both sets
		return &handler{next: rh.next, r: Merge(rh.r, r)}
	}
	return &handler{next: h, r: r}
}

type handler struct {
	next slog.Handler
	r    *Redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.r.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.r.attr(a)
	}
	return &handler{next: h.next.WithAttrs(red), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), r: h.r}
}

// attr redacts one attribute: strings, errors, groups, and any other value
// whose printed form holds a secret (which is then logged as that redacted
// text).
func (r *Redactor) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]slog.Attr, len(g))
		for i, x := range g {
			red[i] = r.attr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		x := v.Any()
		var s string
		switch x := x.(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		case []byte:
			s = string(x)
		default:
			s = fmt.Sprintf("%+v", x)
		}
		if red := r.String(s); red != s {
			return slog.String(a.Key, red)
		}
		return slog.Attr{Key: a.Key, Value: v}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// urlUser finds "scheme://user:" (user possibly empty).
var urlUser = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:`)

// keywordPassword finds password=... in key/value connection strings
// (PostgreSQL's "host=h password=p", ODBC's "Pwd=p;", query strings).
var keywordPassword = regexp.MustCompile(`(?i)\b\w*(?:password|passwd|pwd)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s;&']+))`)

// Find returns the passwords written in s: the password of every URL
// ("scheme://user:password@host"), and the value of every password=...
// of a key/value connection string. It errs on the side of hiding: a
// password may itself hold "@", ":", "/"... unescaped, so every span from
// the user's ":" to each later "@" of the same word is returned, and the
// pieces of each between those characters.
func Find(s string) []string {
	var out []string
	for _, loc := range urlUser.FindAllStringIndex(s, -1) {
		rest := s[loc[1]:]
		if i := strings.IndexAny(rest, " \t\r\n"); i >= 0 {
			rest = rest[:i]
		}
		for i := 0; i < len(rest); i++ {
			if rest[i] == '@' && i > 0 {
				out = append(out, rest[:i])
				// A URL parser that splits the password at one of these
				// quotes a piece of it ("invalid port \":s3cr\" after host").
				out = append(out, strings.FieldsFunc(rest[:i], func(r rune) bool { return strings.ContainsRune("/?#@:%", r) })...)
			}
		}
	}
	for _, m := range keywordPassword.FindAllStringSubmatch(s, -1) {
		if v := m[1] + m[2]; v != "" {
			out = append(out, v)
		}
	}
	return out
}
