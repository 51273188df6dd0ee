// Package twilio is Tether's Twilio SMS binding, type "bindings.twilio.sms",
// after Dapr's: an output whose create sends its data as a text message
// through Twilio's Messages API. It speaks the API directly (no Twilio SDK).
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: sms
//	spec:
//	  type: bindings.twilio.sms
//	  version: v1
//	  metadata:
//	  - name: accountSid
//	    value: ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
//	  - name: authToken
//	    secretKeyRef: {name: twilio, key: authToken}
//	  - name: fromNumber
//	    value: "+15005550006"
//
// The recipient is the request's "toNumber" metadata, else the component's
// toNumber (Dapr does it the other way round, so a component with a toNumber
// can only ever text that number). The answer carries the message's sid.
//
// Twilio's errors come back as [*APIError]. Those retrying cannot fix (an
// invalid number, bad credentials: 4xx other than 408 and 429) are marked
// functions.Permanent, so a handler that returns them dead-letters its
// message at once; 429 with Retry-After asks for the next attempt then.
//
// A function that wants the sid takes a [*Client] among its outputs; one that
// only sends may use functions.Output[string].
package twilio

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/tetherfn/tether/bindings"
)

// TypeName is the binding type's name in component files.
const TypeName = "bindings.twilio.sms"

// Metadata keys of a request to the output, and of its answer.
const (
	// MetaToNumber is the recipient of one message; it wins over the
	// component's toNumber.
	MetaToNumber = "toNumber"
	// MetaSid is the answer's message sid (SM...).
	MetaSid = "sid"
	// MetaStatus is the answer's message status (queued, accepted...).
	MetaStatus = "status"
)

// Type declares bindings.twilio.sms.
var Type = bindings.Type{
	Name:       TypeName,
	Version:    "v1",
	Summary:    "Twilio SMS: create sends the data as a text message.",
	Directions: bindings.DirOutput,
	Operations: []bindings.Operation{bindings.OpCreate},
	Metadata: []bindings.MetadataKey{
		{Name: "accountSid", Kind: bindings.KindString, Required: true, Example: "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
			Description: "Twilio account SID; the user name of the API's basic authentication."},
		{Name: "authToken", Kind: bindings.KindString, Required: true, Secret: true,
			Description: "Twilio auth token (or an API key secret); the password of the API's basic authentication."},
		{Name: "fromNumber", Kind: bindings.KindString, Required: true, Example: "+15005550006",
			Description: "Sender: a Twilio phone number in E.164 form, or an alphanumeric sender id."},
		{Name: "toNumber", Kind: bindings.KindString,
			Description: `Default recipient, in E.164 form. A request's "toNumber" metadata wins over it; one of the two is needed.`},
		{Name: "timeout", Kind: bindings.KindDuration, Default: "5m",
			Description: "Longest time one call to the API may take, connection included."},
		{Name: "baseURL", Kind: bindings.KindString, Default: "https://api.twilio.com",
			Description: "Base URL of the API; point it at a stand-in for tests. The path /2010-04-01/Accounts/{accountSid}/Messages.json is appended."},
	},
	Check:     func(cfg bindings.Config, _ bindings.Direction) error { _, err := parse(cfg); return err },
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return newOutput(cfg) },
}

func init() { bindings.Register(Type) }

// settings are a component's validated keys.
type settings struct {
	accountSid, authToken, from, to string
	endpoint                        string // the Messages resource
}

func parse(cfg bindings.Config) (settings, error) {
	md := cfg.Values()
	s := settings{
		accountSid: strings.TrimSpace(md.String("accountSid")),
		authToken:  md.String("authToken"),
		from:       strings.TrimSpace(md.String("fromNumber")),
		to:         strings.TrimSpace(md.String("toNumber")),
	}
	for key, v := range map[string]string{"accountSid": s.accountSid, "authToken": s.authToken, "fromNumber": s.from} {
		if v == "" {
			return s, &bindings.KeyError{Key: key, Msg: "must not be empty"}
		}
	}
	if md.Duration("timeout") <= 0 {
		return s, &bindings.KeyError{Key: "timeout", Msg: "must be positive"}
	}
	base, err := url.Parse(strings.TrimRight(md.String("baseURL"), "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return s, &bindings.KeyError{Key: "baseURL", Msg: fmt.Sprintf("%q is not an http(s) URL", md.String("baseURL"))}
	}
	s.endpoint = base.String() + "/2010-04-01/Accounts/" + url.PathEscape(s.accountSid) + "/Messages.json"
	return s, nil
}
