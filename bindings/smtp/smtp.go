// Package smtp is Tether's SMTP binding, type "bindings.smtp", after Dapr's:
// an output whose create sends its data as the body of an email.
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: mail
//	spec:
//	  type: bindings.smtp
//	  version: v1
//	  metadata:
//	  - name: host
//	    value: smtp.example.com
//	  - name: port
//	    value: "587"
//	  - name: user
//	    value: orders@example.com
//	  - name: password
//	    secretKeyRef: {name: smtp, key: password}
//	  - name: emailFrom
//	    value: orders@example.com
//	  - name: subject
//	    value: Your order
//
// A request's metadata (emailFrom, emailTo, emailCC, emailBCC, subject,
// priority) overrides the component's for that one message only. The
// connection is upgraded with STARTTLS whenever the server offers it (port
// 465 speaks TLS from the start), and credentials are never sent over an
// unencrypted connection to another host.
//
// The body is the data byte for byte, under the request's content type
// (text/html when it has none, as in Dapr); Dapr's unquoting of the data is
// not done.
package smtp

import (
	"context"
	"fmt"
	"strings"

	"github.com/tetherfn/tether/bindings"
)

// TypeName is the binding type's name in component files.
const TypeName = "bindings.smtp"

// Metadata keys a request may set to override the component's for one
// message.
const (
	MetaEmailFrom = "emailFrom"
	MetaEmailTo   = "emailTo"
	MetaEmailCC   = "emailCC"
	MetaEmailBCC  = "emailBCC"
	MetaSubject   = "subject"
	MetaPriority  = "priority"
)

// Type declares bindings.smtp.
var Type = bindings.Type{
	Name:       TypeName,
	Version:    "v1",
	Summary:    "SMTP: create sends the data as an email.",
	Directions: bindings.DirOutput,
	Operations: []bindings.Operation{bindings.OpCreate},
	Metadata: []bindings.MetadataKey{
		{Name: "host", Kind: bindings.KindString, Required: true, Example: "smtp.example.com",
			Description: "Host name of the SMTP server; also the name its TLS certificate is checked against."},
		{Name: "port", Kind: bindings.KindInt, Required: true, Example: "587",
			Description: "Port of the SMTP server: 587 or 25 (STARTTLS when offered), 465 (TLS from the start)."},
		{Name: "user", Kind: bindings.KindString,
			Description: "User name for SMTP AUTH PLAIN; none means no authentication (a local relay)."},
		{Name: "password", Kind: bindings.KindString, Secret: true,
			Description: "Password for SMTP AUTH, with user."},
		{Name: "skipTLSVerify", Kind: bindings.KindBool, Default: "false",
			Description: "Accept any server certificate. Insecure: for test servers only."},
		{Name: "emailFrom", Kind: bindings.KindString, Example: "orders@example.com",
			Description: `Sender address. A request's "emailFrom" overrides it; one of the two is needed.`},
		{Name: "emailTo", Kind: bindings.KindString,
			Description: `Recipients, separated by ";" (or ","). A request's "emailTo" overrides it; one of the two is needed.`},
		{Name: "emailCC", Kind: bindings.KindString,
			Description: `Carbon-copy recipients, separated by ";". A request's "emailCC" overrides it.`},
		{Name: "emailBCC", Kind: bindings.KindString,
			Description: `Blind-copy recipients, separated by ";": they receive the message but appear in no header. A request's "emailBCC" overrides it.`},
		{Name: "subject", Kind: bindings.KindString,
			Description: `Subject. A request's "subject" overrides it; one of the two is needed.`},
		{Name: "priority", Kind: bindings.KindInt, Default: "3",
			Description: `X-Priority header, 1 (highest) to 5 (lowest). A request's "priority" overrides it.`},
	},
	Check:     func(cfg bindings.Config, _ bindings.Direction) error { _, err := parse(cfg); return err },
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return newOutput(cfg) },
}

func init() { bindings.Register(Type) }

// settings are a component's validated keys.
type settings struct {
	host, user, password string
	port                 int
	skipTLSVerify        bool
	defaults             envelope // the component's message settings
}

func parse(cfg bindings.Config) (settings, error) {
	md := cfg.Values()
	s := settings{
		host: strings.TrimSpace(md.String("host")), port: md.Int("port"),
		user: md.String("user"), password: md.String("password"),
		skipTLSVerify: md.Bool("skipTLSVerify"),
	}
	if s.host == "" {
		return s, &bindings.KeyError{Key: "host", Msg: "must not be empty"}
	}
	if s.port < 1 || s.port > 65535 {
		return s, &bindings.KeyError{Key: "port", Msg: fmt.Sprintf("%d is not a port", s.port)}
	}
	if s.password != "" && s.user == "" {
		return s, &bindings.KeyError{Key: "user", Msg: "a password is set without a user"}
	}
	var err error
	s.defaults, err = envelope{}.with(map[string]string{
		MetaEmailFrom: md.String("emailFrom"), MetaEmailTo: md.String("emailTo"),
		MetaEmailCC: md.String("emailCC"), MetaEmailBCC: md.String("emailBCC"),
		MetaSubject: md.String("subject"), MetaPriority: md.String("priority"),
	})
	if err != nil {
		return s, err
	}
	return s, nil
}
