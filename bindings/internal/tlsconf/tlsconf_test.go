package tlsconf_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/internal/tlsconf"
)

// selfSigned returns a certificate and its key, PEM-encoded.
func selfSigned(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsconf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

func TestFromPEM(t *testing.T) {
	t.Parallel()
	cert, key := selfSigned(t)
	if c, err := tlsconf.FromPEM("", "", ""); c != nil || err != nil {
		t.Errorf("nothing set: %v, %v; want nil, nil", c, err)
	}
	c, err := tlsconf.FromPEM(cert, cert, key)
	if err != nil || c.RootCAs == nil || len(c.Certificates) != 1 || c.MinVersion == 0 {
		t.Errorf("all set: %+v, %v", c, err)
	}
	for _, tc := range []struct {
		name, ca, cert, key, wantKey string
	}{
		{"ca not PEM", "not a certificate", "", "", "caCert"},
		{"cert without key", "", cert, "", "clientCert"},
		{"key without cert", "", "", key, "clientCert"},
		{"key of nothing", "", cert, "not a key", "clientCert"},
	} {
		_, err := tlsconf.FromPEM(tc.ca, tc.cert, tc.key)
		var ke *bindings.KeyError
		if !errors.As(err, &ke) || ke.Key != tc.wantKey {
			t.Errorf("%s: %v, want a problem with %s", tc.name, err, tc.wantKey)
		}
	}
}
