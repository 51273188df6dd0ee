package smtp

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// envelope is everything about one message but its body. It is a value: a
// request's overrides are applied to a copy, never to the component's.
type envelope struct {
	from        *mail.Address
	to, cc, bcc []*mail.Address
	subject     string
	priority    int
	hasPriority bool
}

// with returns e with the non-empty values of md laid over it. md uses the
// request metadata keys (emailFrom, emailTo...). Errors are *bindings.KeyError
// naming the key.
func (e envelope) with(md map[string]string) (envelope, error) {
	if v := strings.TrimSpace(md[MetaEmailFrom]); v != "" {
		a, err := mail.ParseAddress(v)
		if err != nil {
			return e, &bindings.KeyError{Key: MetaEmailFrom, Msg: fmt.Sprintf("%q: %v", v, err)}
		}
		e.from = a
	}
	for _, f := range []struct {
		key  string
		list *[]*mail.Address
	}{{MetaEmailTo, &e.to}, {MetaEmailCC, &e.cc}, {MetaEmailBCC, &e.bcc}} {
		v := strings.TrimSpace(md[f.key])
		if v == "" {
			continue
		}
		list, err := parseList(v)
		if err != nil {
			return e, &bindings.KeyError{Key: f.key, Msg: err.Error()}
		}
		*f.list = list
	}
	if v := md[MetaSubject]; strings.TrimSpace(v) != "" {
		if strings.ContainsAny(v, "\r\n") {
			return e, &bindings.KeyError{Key: MetaSubject, Msg: "contains a line break"}
		}
		e.subject = v
	}
	if v := strings.TrimSpace(md[MetaPriority]); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 5 {
			return e, &bindings.KeyError{Key: MetaPriority, Msg: fmt.Sprintf("%q: want 1 (highest) to 5 (lowest)", v)}
		}
		e.priority, e.hasPriority = p, true
	}
	return e, nil
}

// parseList parses addresses separated by ";" (Dapr's separator) or ",".
func parseList(v string) ([]*mail.Address, error) {
	var out []*mail.Address
	for _, part := range strings.Split(v, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		list, err := mail.ParseAddressList(part)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", part, err)
		}
		out = append(out, list...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q holds no address", v)
	}
	return out, nil
}

// check reports what a message still lacks.
func (e envelope) check() error {
	switch {
	case e.from == nil:
		return fmt.Errorf(`no sender: set emailFrom in the component or the request's metadata`)
	case len(e.to) == 0:
		return fmt.Errorf(`no recipient: set emailTo in the component or the request's metadata`)
	case e.subject == "":
		return fmt.Errorf(`no subject: set subject in the component or the request's metadata`)
	}
	return nil
}

// recipients are every address the message goes to, Bcc included.
func (e envelope) recipients() []string {
	var r []string
	for _, list := range [][]*mail.Address{e.to, e.cc, e.bcc} {
		for _, a := range list {
			r = append(r, a.Address)
		}
	}
	return r
}

// defaultContentType is Dapr's body type for data without one.
const defaultContentType = "text/html; charset=UTF-8"

// compose renders the message: headers (no Bcc), then the body in
// quoted-printable for text, base64 for anything else, so that every byte
// arrives as it was given.
func (e envelope) compose(body []byte, contentType string, now time.Time) ([]byte, error) {
	if contentType == "" {
		contentType = defaultContentType
	}
	if strings.ContainsAny(contentType, "\r\n") {
		return nil, fmt.Errorf("content type %q contains a line break", contentType)
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("content type %q: %w", contentType, err)
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", e.from.String())
	header("To", joinAddresses(e.to))
	if len(e.cc) > 0 {
		header("Cc", joinAddresses(e.cc))
	}
	header("Subject", mime.QEncoding.Encode("utf-8", e.subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", messageID(e.from.Address))
	header("MIME-Version", "1.0")
	header("Content-Type", contentType)
	priority := 3
	if e.hasPriority {
		priority = e.priority
	}
	header("X-Priority", strconv.Itoa(priority))
	if strings.HasPrefix(mediaType, "text/") {
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		// Binary mode encodes line breaks too (=0A, =0D), so the body
		// decodes to exactly the bytes given, not to CRLF-normalised text.
		w := quotedprintable.NewWriter(&b)
		w.Binary = true
		if _, err := w.Write(body); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		// SMTP ends the message with a line break; a soft one keeps it out
		// of the decoded body.
		b.WriteString("=")
	} else {
		header("Content-Transfer-Encoding", "base64")
		b.WriteString("\r\n")
		enc := base64.StdEncoding.EncodeToString(body)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc)
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

func joinAddresses(list []*mail.Address) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func messageID(from string) string {
	domain := "tether.local"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at < len(from)-1 {
		domain = from[at+1:]
	}
	return "<" + strings.ToLower(rand.Text()) + "@" + domain + ">"
}
