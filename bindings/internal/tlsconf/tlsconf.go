// Package tlsconf builds a client's TLS configuration from the PEM values of
// a component's caCert, clientCert and clientKey keys, as the NATS, RabbitMQ
// and MQTT bindings declare them, with problems reported on the key:
//
//	c, err := tlsconf.FromPEM(md.String("caCert"), md.String("clientCert"), md.String("clientKey"))
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/tetherfn/tether/bindings"
)

// FromPEM returns nil (the client's default) when no value is set;
// otherwise TLS 1.2 or later that trusts ca (when set, instead of the
// system's roots) and presents the client certificate cert with its key
// (both or neither). A problem is a *bindings.KeyError naming caCert or
// clientCert.
func FromPEM(ca, cert, key string) (*tls.Config, error) {
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ca)) {
			return nil, &bindings.KeyError{Key: "caCert", Msg: "no PEM certificate found"}
		}
		c.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, &bindings.KeyError{Key: "clientCert", Msg: "clientCert and clientKey must be set together"}
	}
	if cert != "" {
		pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
		if err != nil {
			return nil, &bindings.KeyError{Key: "clientCert", Msg: "client certificate and key do not load: " + err.Error()}
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
