package kafka_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/kafka"
)

// privateCluster starts a kfake cluster of its own, for tests that need
// SASL or TLS.
func privateCluster(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// roundTrip opens an output and an input with md and sends one record
// through them; it returns the first error.
func roundTrip(t *testing.T, md map[string]string) error {
	t.Helper()
	ctx := testContext(t)
	topic := bindingtest.Unique("auth")
	md["publishTopic"], md["topics"], md["consumerGroup"], md["initialOffset"] = topic, topic, topic, "oldest"
	out, _, err := bindings.OpenOutput(ctx, bindings.Config{Name: "auth", Type: kafka.TypeName, Metadata: md})
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("secret")}); err != nil {
		return err
	}
	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "auth", Type: kafka.TypeName, Metadata: md})
	if err != nil {
		return err
	}
	defer in.Close()
	msgs, err := in.Receive(ctx, 1)
	if err != nil {
		return err
	}
	if string(msgs[0].Data) != "secret" {
		t.Errorf("received %q", msgs[0].Data)
	}
	return in.Ack(ctx, msgs[0])
}

func TestSASL(t *testing.T) {
	addr := privateCluster(t, kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-pass"),
		kfake.Superuser("SCRAM-SHA-256", "scram256", "pass-256"),
		kfake.Superuser("SCRAM-SHA-512", "scram512", "pass-512"))
	for _, c := range []struct{ mechanism, user, pass string }{
		{"PLAINTEXT", "plain-user", "plain-pass"},
		{"SHA-256", "scram256", "pass-256"},
		{"SCRAM-SHA-512", "scram512", "pass-512"},
	} {
		t.Run(c.mechanism, func(t *testing.T) {
			md := func(pass string) map[string]string {
				return map[string]string{"brokers": addr, "authType": "password", "disableTls": "true",
					"saslMechanism": c.mechanism, "saslUsername": c.user, "saslPassword": pass}
			}
			if err := roundTrip(t, md(c.pass)); err != nil {
				t.Fatalf("with the right password: %v", err)
			}
			if err := roundTrip(t, md("wrong")); err == nil {
				t.Fatal("a wrong password was accepted")
			} else {
				t.Logf("wrong password: %v", err)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	ca := newCA(t)
	server := ca.issue(t, "kfake", true)
	client := ca.issue(t, "tether", false)
	serverTLS := func(clientAuth tls.ClientAuthType) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{server.pair}, ClientAuth: clientAuth, ClientCAs: ca.pool, MinVersion: tls.VersionTLS12}
	}

	t.Run("server", func(t *testing.T) {
		addr := privateCluster(t, kfake.TLS(serverTLS(tls.NoClientCert)))
		if err := roundTrip(t, map[string]string{"brokers": addr, "caCert": ca.pem}); err != nil {
			t.Errorf("trusting the CA: %v", err)
		}
		if err := roundTrip(t, map[string]string{"brokers": addr, "skipVerify": "true"}); err != nil {
			t.Errorf("skipVerify: %v", err)
		}
		if err := roundTrip(t, map[string]string{"brokers": addr, "authType": "password", "saslUsername": "u", "saslPassword": "p", "caCert": ca.pem}); err == nil {
			t.Error("SASL was accepted by a broker that has none")
		}
		other := newCA(t)
		if err := roundTrip(t, map[string]string{"brokers": addr, "caCert": other.pem}); err == nil {
			t.Error("a broker certificate from another CA was accepted")
		} else {
			t.Logf("another CA: %v", err)
		}
	})
	t.Run("mtls", func(t *testing.T) {
		addr := privateCluster(t, kfake.TLS(serverTLS(tls.RequireAndVerifyClientCert)))
		if err := roundTrip(t, map[string]string{"brokers": addr, "authType": "mtls", "caCert": ca.pem,
			"clientCert": client.certPEM, "clientKey": client.keyPEM}); err != nil {
			t.Errorf("with a client certificate: %v", err)
		}
		if err := roundTrip(t, map[string]string{"brokers": addr, "caCert": ca.pem}); err == nil {
			t.Error("a client without certificate was accepted")
		} else {
			t.Logf("without a client certificate: %v", err)
		}
	})
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  string
}

type issued struct {
	pair            tls.Certificate
	certPEM, keyPEM string
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tether test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

func (ca *testCA) issue(t *testing.T, name string, server bool) issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return issued{pair: pair, certPEM: certPEM, keyPEM: keyPEM}
}
