package smtp_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"encoding/base64"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	tsmtp "github.com/tetherfn/tether/bindings/smtp"
	"github.com/tetherfn/tether/functions"
)

// received is one message as the test server got it.
type received struct {
	from     string
	to       []string
	data     []byte
	tls      bool
	authUser string
}

// mailServer is a real SMTP server (go-smtp) on loopback whose backend
// records every message.
type mailServer struct {
	addr string
	port string

	mu       sync.Mutex
	messages []received
	// rejectRcpt, when set, answers every RCPT with this error.
	rejectRcpt *gosmtp.SMTPError
}

type serverOptions struct {
	tls          bool   // offer STARTTLS with a self-signed certificate
	user, passwd string // require AUTH PLAIN with these
}

func startMailServer(t *testing.T, opts serverOptions) *mailServer {
	t.Helper()
	ms := &mailServer{}
	be := gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &session{ms: ms, conn: c, opts: opts}, nil
	})
	srv := gosmtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if opts.tls {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ms.addr = ln.Addr().String()
	_, ms.port, _ = net.SplitHostPort(ms.addr)
	return ms
}

func (ms *mailServer) received() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return slices.Clone(ms.messages)
}

type session struct {
	ms       *mailServer
	conn     *gosmtp.Conn
	opts     serverOptions
	authUser string
	cur      received
}

func (s *session) AuthMechanisms() []string {
	if s.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.opts.user || pass != s.opts.passwd {
			return errors.New("invalid credentials")
		}
		s.authUser = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.opts.user != "" && s.authUser == "" {
		return &gosmtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.cur.from, s.cur.authUser = from, s.authUser
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.ms.mu.Lock()
	reject := s.ms.rejectRcpt
	s.ms.mu.Unlock()
	if reject != nil {
		return reject
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = data
	s.ms.mu.Lock()
	s.ms.messages = append(s.ms.messages, s.cur)
	s.ms.mu.Unlock()
	s.cur = received{}
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 that no one trusts.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tether test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func open(t *testing.T, md map[string]string) bindings.Output {
	t.Helper()
	out, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "mail", Type: tsmtp.TypeName, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

func send(out bindings.Output, body, contentType string, md map[string]string) error {
	_, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte(body), ContentType: contentType, Metadata: md})
	return err
}

// parsed reads a recorded message: its headers and its decoded body.
func parsed(t *testing.T, r received) (*mail.Message, []byte) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(r.data))
	if err != nil {
		t.Fatalf("the message is not RFC 5322: %v\n%s", err, r.data)
	}
	raw, _ := io.ReadAll(m.Body)
	var body []byte
	switch m.Header.Get("Content-Transfer-Encoding") {
	case "quoted-printable":
		body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	case "base64":
		body, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(raw)))
	default:
		t.Fatalf("Content-Transfer-Encoding %q", m.Header.Get("Content-Transfer-Encoding"))
	}
	if err != nil {
		t.Fatal(err)
	}
	return m, body
}

func TestConformance(t *testing.T) {
	ms := startMailServer(t, serverOptions{})
	bindingtest.RunOutput(t, bindingtest.Config{
		Type: tsmtp.TypeName,
		Metadata: func(t *testing.T) map[string]string {
			return map[string]string{"host": "127.0.0.1", "port": ms.port, "emailFrom": "a@example.com"}
		},
		InvalidMetadata: []map[string]string{
			{"host": ""},
			{"port": "0"},
			{"port": "smtp"},
			{"priority": "7"},
			{"emailFrom": "not an address"},
			{"emailTo": "a@example.com; <broken"},
			{"subject": "two\r\nlines"},
			{"password": "p"}, // without a user
			{"skipTLSVerify": "perhaps"},
		},
	})
}

// TestSTARTTLSAndOverrides: a server offering STARTTLS and requiring AUTH;
// a request's overrides apply to its message only.
func TestSTARTTLSAndOverrides(t *testing.T) {
	ms := startMailServer(t, serverOptions{tls: true, user: "robot", passwd: "hunter2"})
	out := open(t, map[string]string{
		"host": "127.0.0.1", "port": ms.port, "user": "robot", "password": "hunter2", "skipTLSVerify": "true",
		"emailFrom": "Orders <orders@example.com>", "emailTo": "ops@example.com", "subject": "Component subject", "priority": "4",
	})

	body := "<p>Grüße — 100% = ✓</p>\nline two with a trailing space \n" + strings.Repeat("long ", 40)
	err := send(out, body, "text/html; charset=utf-8", map[string]string{
		"emailTo": "alice@example.com; Bob <bob@example.com>", "emailCC": "carol@example.com",
		"emailBCC": "dave@example.com", "subject": "Über override", "priority": "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := send(out, "second", "text/plain", nil); err != nil {
		t.Fatal(err)
	}
	got := ms.received()
	if len(got) != 2 {
		t.Fatalf("server got %d messages, want 2", len(got))
	}

	first := got[0]
	if !first.tls || first.authUser != "robot" {
		t.Errorf("first message: TLS %v, AUTH user %q; want STARTTLS and AUTH", first.tls, first.authUser)
	}
	if first.from != "orders@example.com" {
		t.Errorf("MAIL FROM %q", first.from)
	}
	if want := []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"}; !slices.Equal(first.to, want) {
		t.Errorf("RCPT TO %v, want %v (Bcc included)", first.to, want)
	}
	m, decoded := parsed(t, first)
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	for _, c := range []struct{ header, got, want string }{
		{"Subject", subject, "Über override"},
		{"To", m.Header.Get("To"), `<alice@example.com>, "Bob" <bob@example.com>`},
		{"Cc", m.Header.Get("Cc"), "<carol@example.com>"},
		{"Bcc", m.Header.Get("Bcc"), ""},
		{"X-Priority", m.Header.Get("X-Priority"), "1"},
		{"Content-Type", m.Header.Get("Content-Type"), "text/html; charset=utf-8"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.header, c.got, c.want)
		}
	}
	if bytes.Contains(first.data, []byte("dave@")) {
		t.Error("the Bcc address appears in the message")
	}
	if string(decoded) != body {
		t.Errorf("body arrived as %q, want %q", decoded, body)
	}
	if m.Header.Get("Message-Id") == "" || m.Header.Get("Date") == "" {
		t.Errorf("no Message-ID or Date: %v", m.Header)
	}

	// The second message, without overrides, has the component's values:
	// the first request's did not stick.
	second := got[1]
	m, decoded = parsed(t, second)
	if !slices.Equal(second.to, []string{"ops@example.com"}) || m.Header.Get("Subject") != "Component subject" ||
		m.Header.Get("X-Priority") != "4" || m.Header.Get("Cc") != "" || string(decoded) != "second" ||
		m.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("second message: RCPT %v, headers %v, body %q; want the component's settings", second.to, m.Header, decoded)
	}
}

func TestCertificateIsChecked(t *testing.T) {
	ms := startMailServer(t, serverOptions{tls: true})
	out := open(t, map[string]string{"host": "127.0.0.1", "port": ms.port, "emailFrom": "a@example.com", "emailTo": "b@example.com", "subject": "s"})
	err := send(out, "x", "", nil)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("send to a server with a self-signed certificate = %v, want x509.UnknownAuthorityError", err)
	}
	if n := len(ms.received()); n != 0 {
		t.Errorf("%d messages were sent over an unverified connection", n)
	}
}

func TestPlainServerAndBinaryBody(t *testing.T) {
	ms := startMailServer(t, serverOptions{})
	out := open(t, map[string]string{"host": "127.0.0.1", "port": ms.port, "emailFrom": "a@example.com", "emailTo": "b@example.com", "subject": "s"})
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if err := send(out, string(all), "application/octet-stream", nil); err != nil {
		t.Fatal(err)
	}
	if err := send(out, "<b>hi</b>", "", nil); err != nil {
		t.Fatal(err)
	}
	got := ms.received()
	if len(got) != 2 || got[0].tls {
		t.Fatalf("got %d messages (TLS %v)", len(got), len(got) > 0 && got[0].tls)
	}
	if _, body := parsed(t, got[0]); !bytes.Equal(body, all) {
		t.Errorf("binary body arrived as %x", body)
	}
	if m, body := parsed(t, got[1]); m.Header.Get("Content-Type") != "text/html; charset=UTF-8" || string(body) != "<b>hi</b>" {
		t.Errorf("data without a content type: %q %q; want Dapr's text/html", m.Header.Get("Content-Type"), body)
	}
}

func TestRefusals(t *testing.T) {
	ms := startMailServer(t, serverOptions{})
	out := open(t, map[string]string{"host": "127.0.0.1", "port": ms.port})
	for _, c := range []struct {
		md   map[string]string
		want string
	}{
		{map[string]string{"emailTo": "b@example.com", "subject": "s"}, "no sender"},
		{map[string]string{"emailFrom": "a@example.com", "subject": "s"}, "no recipient"},
		{map[string]string{"emailFrom": "a@example.com", "emailTo": "b@example.com"}, "no subject"},
		{map[string]string{"emailFrom": "a@example.com", "emailTo": "b@example.com", "subject": "s\r\nBcc: evil@example.com"}, "line break"},
		{map[string]string{"emailFrom": "a@example.com", "emailTo": "b@example.com\r\nBcc: evil@example.com", "subject": "s"}, "emailTo"},
		{map[string]string{"emailFrom": "a@example.com", "emailTo": "b@example.com", "subject": "s", "priority": "0"}, "priority"},
	} {
		err := send(out, "x", "", c.md)
		if err == nil || !strings.Contains(err.Error(), c.want) || !functions.IsPermanent(err) {
			t.Errorf("%v: %v, want a permanent error about %q", c.md, err, c.want)
		}
	}
	if n := len(ms.received()); n != 0 {
		t.Fatalf("%d refused messages were sent", n)
	}

	ok := map[string]string{"emailFrom": "a@example.com", "emailTo": "nobody@example.com", "subject": "s"}
	ms.mu.Lock()
	ms.rejectRcpt = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	ms.mu.Unlock()
	if err := send(out, "x", "", ok); err == nil || !functions.IsPermanent(err) || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("550 on RCPT = %v, want a permanent error", err)
	}
	ms.mu.Lock()
	ms.rejectRcpt = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	ms.mu.Unlock()
	if err := send(out, "x", "", ok); err == nil || functions.IsPermanent(err) {
		t.Errorf("451 on RCPT = %v, want a retryable error", err)
	}

	// Nobody listening: a retryable network error.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	dead := open(t, map[string]string{"host": "127.0.0.1", "port": port})
	if err := send(dead, "x", "", ok); err == nil || functions.IsPermanent(err) {
		t.Errorf("send to a closed port = %v, want a retryable error", err)
	}
}
