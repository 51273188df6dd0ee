package http_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	tetherhttp "github.com/tetherfn/tether/bindings/http"
	"github.com/tetherfn/tether/bindings/localstorage"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/trigger"
)

// echoed is what the echo server saw of a request.
type echoed struct {
	Method, Path, RawQuery, Body string
	Header                       nethttp.Header
}

// echoServer answers every request with a JSON description of it, status
// 200 and an X-Echo header.
func echoServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Echo", "1")
		w.Header().Add("X-Echo", "2")
		json.NewEncoder(w).Encode(echoed{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Body: string(body), Header: r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func openOutput(t *testing.T, md map[string]string) bindings.Output {
	t.Helper()
	out, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "api", Type: tetherhttp.TypeName, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

func TestOutputOperations(t *testing.T) {
	srv := echoServer(t)
	out := openOutput(t, map[string]string{"url": srv.URL + "/api/", "securityToken": "Bearer t0k3n", "securityTokenHeader": "Authorization"})
	for op, method := range map[bindings.Operation]string{
		"create": "POST", "post": "POST", "put": "PUT", "patch": "PATCH",
		"get": "GET", "delete": "DELETE", "options": "OPTIONS", "trace": "TRACE",
	} {
		resp, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: op, Data: []byte(`{"n":1}`),
			Metadata: map[string]string{"path": "/orders/7", "X-Tenant": "acme", "traceparent": "00-abc-def-01"}})
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		var e echoed
		if err := json.Unmarshal(resp.Data, &e); err != nil {
			t.Fatalf("%s: answer %q: %v", op, resp.Data, err)
		}
		withBody := method == "POST" || method == "PUT" || method == "PATCH"
		if e.Method != method || e.Path != "/api/orders/7" || (e.Body != "") != withBody {
			t.Errorf("%s: sent %s %s with body %q", op, e.Method, e.Path, e.Body)
		}
		for k, want := range map[string]string{"X-Tenant": "acme", "Traceparent": "00-abc-def-01", "Authorization": "Bearer t0k3n", "Accept": "application/json; charset=utf-8"} {
			if got := e.Header.Get(k); got != want {
				t.Errorf("%s: header %s = %q, want %q", op, k, got, want)
			}
		}
		if withBody && e.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q, want Dapr's default", op, e.Header.Get("Content-Type"))
		}
		if e.Header.Get("Path") != "" {
			t.Errorf("%s: the path metadata was sent as a header", op)
		}
		if resp.Metadata["statusCode"] != "200" || resp.Metadata["status"] != "200 OK" || resp.Metadata["X-Echo"] != "1, 2" || resp.ContentType != "application/json" {
			t.Errorf("%s: answer metadata %v, content type %q", op, resp.Metadata, resp.ContentType)
		}
	}
	// HEAD: no body either way.
	resp, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "head"})
	if err != nil || resp.Data != nil || resp.Metadata["statusCode"] != "200" {
		t.Errorf("head: %v, %v", resp, err)
	}
	// The request's content type wins over the default.
	resp, err = out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "create", Data: []byte("plain"), ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	var e echoed
	json.Unmarshal(resp.Data, &e)
	if e.Header.Get("Content-Type") != "text/plain" || e.Body != "plain" || e.Path != "/api" {
		t.Errorf("create with a content type: %+v", e)
	}
	// Metadata that cannot be a header is refused, not sent half.
	_, err = out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get", Metadata: map[string]string{"bad key": "v"}})
	if err == nil || !functions.IsPermanent(err) {
		t.Errorf("metadata %q: %v, want a permanent error", "bad key", err)
	}
	_, err = out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get", Metadata: map[string]string{"X-A": "v\r\nX-Injected: 1"}})
	if err == nil {
		t.Error("a header value with a line break was sent")
	}
}

func TestOutputStatus(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/missing":
			nethttp.Error(w, `{"error":"no such order"}`, 404)
		case "/busy":
			w.Header().Set("Retry-After", "9")
			w.WriteHeader(429)
		}
	}))
	defer srv.Close()
	out := openOutput(t, map[string]string{"url": srv.URL})
	_, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get", Metadata: map[string]string{"path": "missing"}})
	var se *tetherhttp.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || !strings.Contains(string(se.Body), "no such order") || se.Method != "GET" {
		t.Fatalf("404 = %v, want a *StatusError with the body", err)
	}
	var be *bindings.Error
	if !errors.As(err, &be) || be.Binding != "api" {
		t.Errorf("not wrapped with the binding: %v", err)
	}
	_, err = out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get", Metadata: map[string]string{"path": "busy"}})
	if d, ok := functions.RetryDelay(err); !ok || d != 9*time.Second {
		t.Errorf("429 with Retry-After 9 = %v", err)
	}
	// errorIfNot2XX false, per call and per component.
	resp, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get", Metadata: map[string]string{"path": "missing", "errorIfNot2XX": "false"}})
	if err != nil || resp.Metadata["statusCode"] != "404" {
		t.Errorf("errorIfNot2XX=false on the call: %v, %v", resp, err)
	}
	lenient := openOutput(t, map[string]string{"url": srv.URL, "errorIfNot2XX": "false"})
	resp, err = lenient.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get", Metadata: map[string]string{"path": "missing"}})
	if err != nil || resp.Metadata["statusCode"] != "404" || !strings.Contains(string(resp.Data), "no such order") {
		t.Errorf("component errorIfNot2XX=false: %v, %v", resp, err)
	}
	if _, err := lenient.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get", Metadata: map[string]string{"path": "missing", "errorIfNot2XX": "true"}}); !errors.As(err, &se) {
		t.Errorf("errorIfNot2XX=true on the call over a lenient component: %v", err)
	}
}

func TestOutputLimits(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/10":
			io.WriteString(w, "0123456789")
		case "/11":
			io.WriteString(w, "0123456789A")
		case "/11-chunked":
			w.(nethttp.Flusher).Flush() // no Content-Length
			io.WriteString(w, "0123456789A")
		case "/hang":
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	// Only the hanging server meets the short responseTimeout: on a loaded
	// machine the others' answers may take longer than it.
	out := openOutput(t, map[string]string{"url": srv.URL, "maxResponseBodySize": "10", "responseTimeout": "1m"})
	impatient := openOutput(t, map[string]string{"url": srv.URL, "maxResponseBodySize": "10", "responseTimeout": "50ms"})
	get := func(path string) (*bindings.InvokeResponse, error) {
		o := out
		if path == "hang" {
			o = impatient
		}
		return o.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get", Metadata: map[string]string{"path": path}})
	}
	if resp, err := get("10"); err != nil || string(resp.Data) != "0123456789" {
		t.Errorf("10 bytes within a limit of 10: %v, %v", resp, err)
	}
	for _, p := range []string{"11", "11-chunked"} {
		if _, err := get(p); err == nil || !strings.Contains(err.Error(), "maxResponseBodySize") {
			t.Errorf("%s: %v, want an error (never a cut-off body)", p, err)
		}
	}
	if _, err := get("hang"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a server slower than responseTimeout: %v, want context.DeadlineExceeded", err)
	}
}

func TestOutputRedactsURL(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	out := openOutput(t, map[string]string{"url": "http://user:pw@" + addr + "/x?api_key=sekrit"})
	_, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get"})
	if err == nil || strings.Contains(err.Error(), "sekrit") || strings.Contains(err.Error(), "pw@") {
		t.Errorf("error %v: want one without the URL's query or password", err)
	}
}

// TestMTLS: a server that requires a client certificate from our CA, and
// the binding trusting the server's CA; PEM given inline and as files.
func TestMTLS(t *testing.T) {
	caCert, caKey := newCA(t)
	clientCertPEM, clientKeyPEM := issue(t, caCert, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	srv := httptest.NewUnstartedServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	serverCA := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))

	dir := t.TempDir()
	files := map[string]string{"ca.pem": serverCA, "client.pem": clientCertPEM, "client.key": clientKeyPEM}
	for name, content := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)
	}
	for what, md := range map[string]map[string]string{
		"inline PEM": {"MTLSRootCA": serverCA, "MTLSClientCert": clientCertPEM, "MTLSClientKey": clientKeyPEM},
		"files": {"MTLSRootCA": filepath.Join(dir, "ca.pem"), "MTLSClientCert": filepath.Join(dir, "client.pem"),
			"MTLSClientKey": filepath.Join(dir, "client.key"), "MTLSRenegotiation": "RenegotiateOnceAsClient"},
	} {
		md["url"] = srv.URL
		resp, err := openOutput(t, md).Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get"})
		if err != nil || string(resp.Data) != "hello tether-client" {
			t.Errorf("%s: %v, %v", what, resp, err)
		}
	}
	// Without the client certificate the server refuses; without the root
	// CA the binding refuses the server.
	if _, err := openOutput(t, map[string]string{"url": srv.URL, "MTLSRootCA": serverCA}).Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get"}); err == nil {
		t.Error("no client certificate: the call succeeded")
	}
	_, err := openOutput(t, map[string]string{"url": srv.URL, "MTLSClientCert": clientCertPEM, "MTLSClientKey": clientKeyPEM}).Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get"})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("server not trusted: %v, want x509.UnknownAuthorityError", err)
	}
	// A key given without its certificate is an error at open, which never
	// shows the key.
	_, _, err = bindings.OpenOutput(context.Background(), bindings.Config{Name: "api", Type: tetherhttp.TypeName,
		Metadata: map[string]string{"url": srv.URL, "MTLSClientKey": clientKeyPEM}})
	if err == nil || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("key without certificate: %v", err)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tether test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certPEM, keyPEM string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "tether-client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

func TestClient(t *testing.T) {
	srv := echoServer(t)
	out := openOutput(t, map[string]string{"url": srv.URL})
	typ, _ := bindings.Lookup(tetherhttp.TypeName)
	var c tetherhttp.Client
	if err := c.BindOutput(bindings.OutputBinding{Name: "api", Type: typ, Output: out}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	resp, err := c.Get(ctx, "/orders?page=2", tetherhttp.Header("X-Tenant", "acme"))
	if err != nil {
		t.Fatal(err)
	}
	var e echoed
	if err := resp.JSON(&e); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !slices.Equal(resp.Header.Values("X-Echo"), []string{"1", "2"}) || e.Method != "GET" || e.Path != "/orders" || e.RawQuery != "page=2" || e.Header.Get("X-Tenant") != "acme" {
		t.Errorf("Get: %d %v %+v", resp.StatusCode, resp.Header, e)
	}
	resp, err = c.PostJSON(ctx, "orders", map[string]int{"id": 7})
	if err != nil {
		t.Fatal(err)
	}
	resp.JSON(&e)
	if e.Method != "POST" || e.Body != `{"id":7}` || e.Header.Get("Content-Type") != "application/json" {
		t.Errorf("PostJSON: %+v", e)
	}
	for name, call := range map[string]func() (*tetherhttp.Response, error){
		"PUT":    func() (*tetherhttp.Response, error) { return c.Put(ctx, "x", []byte("b")) },
		"PATCH":  func() (*tetherhttp.Response, error) { return c.Patch(ctx, "x", []byte("b")) },
		"DELETE": func() (*tetherhttp.Response, error) { return c.Delete(ctx, "x") },
		"POST": func() (*tetherhttp.Response, error) {
			return c.Post(ctx, "x", []byte("b"), tetherhttp.ContentType("text/plain"))
		},
	} {
		resp, err := call()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.JSON(&e)
		if e.Method != name {
			t.Errorf("%s sent %s", name, e.Method)
		}
	}
	if resp, err := c.Head(ctx, "x"); err != nil || resp.StatusCode != 200 || resp.Body != nil {
		t.Errorf("Head: %+v, %v", resp, err)
	}

	lsType, _ := bindings.Lookup(localstorage.TypeName)
	err = new(tetherhttp.Client).BindOutput(bindings.OutputBinding{Name: "files", Type: lsType, Output: out})
	if err == nil || !strings.Contains(err.Error(), `"files"`) || !strings.Contains(err.Error(), localstorage.TypeName) || !strings.Contains(err.Error(), tetherhttp.TypeName) {
		t.Errorf("binding a localstorage component = %v", err)
	}
}

// TestDaprBindingsAPI: the output through the runtime's Dapr-compatible
// API, as a polyglot app would call it.
func TestDaprBindingsAPI(t *testing.T) {
	srv := echoServer(t)
	set := bindingtest.LoadComponents(t,
		bindingtest.ComponentYAML("api", tetherhttp.TypeName, map[string]string{"url": srv.URL, "direction": "output"}),
		bindingtest.ComponentYAML("hook", tetherhttp.TypeName, map[string]string{"direction": "input"}))
	_, base := startRuntimeAPI(t, set, trigger.Function{Name: "noop", Trigger: "hook",
		Handler: func(context.Context, *bindings.Message) (trigger.Result, error) { return trigger.Result{}, nil }})
	resp, body := post(t, base+"/v1.0/bindings/api", "application/json", `{"operation":"get","metadata":{"path":"/things/1","X-Tenant":"acme"}}`)
	var e echoed
	json.Unmarshal([]byte(body), &e)
	if resp.StatusCode != 200 || resp.Header.Get("metadata.statusCode") != "200" || e.Path != "/things/1" || e.Header.Get("X-Tenant") != "acme" {
		t.Errorf("Dapr API: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// TestRedirectKeepsCredentialsHome: the token's header, Authorization and
// Cookie go to the component's origin only. The other server is on the same
// 127.0.0.1 but another port: net/http compares host names only and would
// send Authorization and Cookie there, and sends a custom token header to
// any host, so this fails without the output's own redirect policy.
func TestRedirectKeepsCredentialsHome(t *testing.T) {
	other := echoServer(t)
	var back *httptest.Server // redirects home again
	home := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/away":
			nethttp.Redirect(w, r, other.URL+"/landed", nethttp.StatusFound)
		case "/stay":
			nethttp.Redirect(w, r, "/echo", nethttp.StatusFound)
		case "/bounce": // away, then back home
			nethttp.Redirect(w, r, back.URL, nethttp.StatusFound)
		default:
			json.NewEncoder(w).Encode(echoed{Path: r.URL.Path, Header: r.Header})
		}
	}))
	t.Cleanup(home.Close)
	back = httptest.NewServer(nethttp.RedirectHandler(home.URL+"/echo", nethttp.StatusFound))
	t.Cleanup(back.Close)

	for _, tokenHeader := range []string{"X-Api-Key", "Authorization"} {
		out := openOutput(t, map[string]string{"url": home.URL, "securityToken": "s3cr3t", "securityTokenHeader": tokenHeader})
		call := func(path string) echoed {
			t.Helper()
			resp, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: "get",
				Metadata: map[string]string{"path": path, "Cookie": "session=abc", "Authorization": "Basic dTpw", "X-Tenant": "acme"}})
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var e echoed
			if err := json.Unmarshal(resp.Data, &e); err != nil {
				t.Fatal(err)
			}
			return e
		}
		landed := call("/away")
		if landed.Path != "/landed" {
			t.Fatalf("the redirect was not followed: %+v", landed)
		}
		for _, h := range []string{tokenHeader, "Authorization", "Cookie"} {
			if v := landed.Header.Get(h); v != "" {
				t.Errorf("token header %s: redirected to another port, %s: %q was sent", tokenHeader, h, v)
			}
		}
		if landed.Header.Get("X-Tenant") != "acme" {
			t.Errorf("an ordinary header was dropped on the redirect: %v", landed.Header)
		}
		stayed := call("/stay")
		if stayed.Path != "/echo" || stayed.Header.Get(tokenHeader) == "" || stayed.Header.Get("Cookie") != "session=abc" {
			t.Errorf("token header %s: a redirect within the origin lost the credentials: %+v", tokenHeader, stayed)
		}
		// Once the chain has left, a server there chose where it goes next:
		// the credentials stay dropped even back home.
		bounced := call("/bounce")
		if bounced.Path != "/echo" || bounced.Header.Get(tokenHeader) != "" || bounced.Header.Get("Cookie") != "" {
			t.Errorf("token header %s: back home through another server: %+v", tokenHeader, bounced)
		}
	}
}

// metadataOnly answers as an output that does not fill the typed client's
// answer (a test double): status and header in metadata only.
type metadataOnly struct{}

func (metadataOnly) Invoke(context.Context, *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	return &bindings.InvokeResponse{Data: []byte("{}"), Metadata: map[string]string{
		tetherhttp.MetaStatusCode: "201", tetherhttp.MetaStatus: "201 Created", "x-order": "42"}}, nil
}
func (metadataOnly) Close() error { return nil }

// TestClientFromMetadata: Client reads an answer given only as metadata,
// as from the binding before it handed the header over as it came.
func TestClientFromMetadata(t *testing.T) {
	typ, _ := bindings.Lookup(tetherhttp.TypeName)
	var c tetherhttp.Client
	if err := c.BindOutput(bindings.OutputBinding{Name: "api", Type: typ, Output: metadataOnly{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(context.Background(), "/orders/42")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 201 || resp.Header.Get("X-Order") != "42" || string(resp.Body) != "{}" {
		t.Errorf("answer %d %v %q", resp.StatusCode, resp.Header, resp.Body)
	}
}
