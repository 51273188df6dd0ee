// Package smsreply is the story of Dapr's bindings overview, on Tether: a
// text message sent to a Twilio number reaches Twilio's inbound-SMS webhook,
// the function reads it, and answers with a text message of its own through
// Twilio's Messages API.
//
// The webhook is a bindings.http input that checks Twilio's signature
// (X-Twilio-Signature) before the function runs; the answer goes through a
// bindings.twilio.sms output. Neither uses the Twilio SDK. Both components
// are in components/; their credentials come from the environment.
package smsreply

//go:generate go run github.com/tetherfn/tether/cmd/tether generate

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	// The webhook's driver, linked into the function's binary.
	_ "github.com/tetherfn/tether/bindings/http"
	"github.com/tetherfn/tether/bindings/twilio"
	"github.com/tetherfn/tether/functions"
)

// Outputs are bound at start-up: SMS to the "sms" component.
type Outputs struct {
	SMS *twilio.Client `binding:"sms"`
}

// ErrNoSender refuses a webhook call without a From number: there is no one
// to answer, and trying again will not change that.
var ErrNoSender = errors.New("inbound message has no From number")

// Reply answers each text message sent to the Twilio number. Twilio posts
// the message as a form (From, To, Body, MessageSid...); the webhook answers
// Twilio 204 once the reply is sent, and 503 when it could not be, so that
// Twilio (with retries configured) sends the message again.
//
//tether:function sms-reply trigger=inbound-sms
func Reply(ctx context.Context, form string, out Outputs) error {
	in, err := url.ParseQuery(form)
	if err != nil {
		return functions.Permanent(fmt.Errorf("webhook body is not a form: %w", err))
	}
	from := in.Get("From")
	if from == "" {
		return functions.Permanent(ErrNoSender)
	}
	sid, err := out.SMS.Send(ctx, from, Answer(in.Get("Body")))
	if err != nil {
		return fmt.Errorf("reply to %s (inbound %s): %w", from, in.Get("MessageSid"), err)
	}
	functions.Logger(ctx).Info("replied", "inbound", in.Get("MessageSid"), "reply", sid)
	return nil
}

// Answer is the reply to one text.
func Answer(text string) string {
	switch strings.ToUpper(strings.TrimSpace(text)) {
	case "HELP":
		return "Text HOURS for our opening hours. Reply STOP to stop messages."
	case "HOURS":
		return "We are open Monday to Friday, 9:00 to 17:00."
	case "":
		return "Your message was empty. Text HELP for help."
	}
	return "Thanks, we got your message: " + strings.TrimSpace(text)
}
