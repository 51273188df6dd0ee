package smsreply_test

import (
	"errors"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/twilio"
	smsreply "github.com/tetherfn/tether/examples/sms-reply"
	"github.com/tetherfn/tether/functions/fntest"
	"github.com/tetherfn/tether/trigger"
)

func TestAnswer(t *testing.T) {
	for text, want := range map[string]string{
		"help":           "Text HOURS for our opening hours. Reply STOP to stop messages.",
		" Hours ":        "We are open Monday to Friday, 9:00 to 17:00.",
		"":               "Your message was empty. Text HELP for help.",
		"Is it open? ✓ ": "Thanks, we got your message: Is it open? ✓",
	} {
		if got := smsreply.Answer(text); got != want {
			t.Errorf("Answer(%q) = %q, want %q", text, got, want)
		}
	}
}

// TestReply runs the handler as the runtime would, with its sms output on
// the real twilio.sms binding pointed at the stand-in.
func TestReply(t *testing.T) {
	api := newFakeTwilio(t)
	h := fntest.New(t, smsreply.ReplyFunction(), fntest.Open("sms", bindings.Config{Type: twilio.TypeName, Metadata: map[string]string{
		"accountSid": accountSid, "authToken": authToken, "fromNumber": ourNumber, "baseURL": api.URL,
	}}))

	if out := h.Send(inbound("SM1", "+15551230001", "HELP").Encode()); !out.Acked() {
		t.Fatalf("inbound message: %v", out)
	}
	if sent := api.messages(); len(sent) != 1 || sent[0].Get("To") != "+15551230001" || sent[0].Get("Body") != smsreply.Answer("HELP") {
		t.Errorf("Twilio got %v", sent)
	}

	// No sender: refused for good, straight to the dead letter.
	form := inbound("SM2", "", "hi")
	form.Del("From")
	if out := h.Send(form.Encode()); out.Action != trigger.DeadLettered || !errors.Is(out.Err, smsreply.ErrNoSender) {
		t.Errorf("message without From: %v, want dead-lettered with ErrNoSender", out)
	}

	// The API failing is worth a retry.
	api.fail(true)
	if out := h.Send(inbound("SM3", "+15551230003", "hi").Encode()); out.Action != trigger.RetryLater {
		t.Errorf("API down: %v, want a retry", out)
	}
	if n := len(api.messages()); n != 1 {
		t.Errorf("Twilio recorded %d messages, want 1", n)
	}
}
