package functions

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/tetherfn/tether/bindings"
)

// Event is a delivered message seen as a CloudEvents 1.0 event. A handler
// that takes a *functions.Event (or a cloudevents.Event) gets one; handlers
// that take a decoded payload never pay for building it.
//
// The embedded event.Event carries:
//
//   - id: the message id
//   - source: /bindings/<trigger component name>
//   - type: dev.tether.<binding type without "bindings.">.<kind>, e.g.
//     dev.tether.aws.sqs.message (EventKind names the kind)
//   - time: when the broker accepted the message; absent when it does not say
//   - datacontenttype: the message's content type; absent when it has none
//   - data: the payload bytes exactly as delivered (never decoded or
//     re-encoded; serialised as data_base64 if the event is marshalled)
//   - one extension per binding metadata key, named by ExtensionName
//   - the extension "tetherattempt": the delivery attempt, 1 on the first
//
// Data aliases the message's bytes: copy them to keep them after the
// handler returns.
type Event struct {
	event.Event
	// Attempt is 1 on the first delivery and grows with every retry.
	Attempt int
	// Metadata is the binding metadata under its own names (the extensions
	// carry it under CloudEvents-safe names).
	Metadata map[string]string
	// Key is the message's ordering key (partition, group...), "" if none.
	Key string
}

// EventKind is the last part of the type of events built from messages.
const EventKind = "message"

// AttemptExtension is the extension holding the delivery attempt.
const AttemptExtension = "tetherattempt"

// reserved are attribute names an extension built from metadata must not
// take: the CloudEvents context attributes, the JSON format's data members,
// and Tether's own extension.
var reserved = []string{
	"data", "database64", "datacontenttype", "dataschema", "id", "source",
	"specversion", "subject", "time", "type", AttemptExtension,
}

// ExtensionName maps a binding metadata key to a CloudEvents extension name,
// which may only hold lower-case ASCII letters and digits: the key is
// lower-cased and every other character dropped ("Content-Type" becomes
// "contenttype", "x-request-id" "xrequestid"). A result that is empty or
// a reserved attribute name (id, source, type, time, data, ... and
// tetherattempt) gets the prefix "md" ("id" becomes "mdid").
//
// Two keys can map to one name ("partitionKey", "partition-key"): building
// an event takes the keys in byte order; the first keeps the name, the next
// ones get "2", "3"... appended. Event.Metadata keeps the keys as they are.
func ExtensionName(key string) string {
	var b strings.Builder
	b.Grow(len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			b.WriteByte(c)
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		}
	}
	name := b.String()
	if name == "" || slices.Contains(reserved, name) {
		name = "md" + name
	}
	return name
}

// NewEvent builds the event for message m, received from the component
// named binding, of type bindingType (e.g. "bindings.aws.sqs"), on the given
// attempt.
func NewEvent(binding, bindingType string, attempt int, m *bindings.Message) *Event {
	md := m.ReadMetadata()
	ev := &Event{
		Event:    event.New(event.CloudEventsVersionV1),
		Attempt:  attempt,
		Metadata: md,
		Key:      m.Key,
	}
	ctx := &event.EventContextV1{
		ID:     m.ID,
		Source: types.URIRef{},
		Type:   "dev.tether." + strings.TrimPrefix(bindingType, "bindings.") + "." + EventKind,
	}
	ctx.Source.Path = "/bindings/" + binding
	if !m.Time.IsZero() {
		ctx.Time = &types.Timestamp{Time: m.Time}
	}
	if m.ContentType != "" {
		ct := m.ContentType
		ctx.DataContentType = &ct
	}
	ctx.Extensions = make(map[string]any, len(md)+1)
	ctx.Extensions[AttemptExtension] = int32(min(attempt, 1<<31-1))
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := ExtensionName(k)
		if _, taken := ctx.Extensions[name]; taken {
			for n := 2; ; n++ {
				if _, taken := ctx.Extensions[name+strconv.Itoa(n)]; !taken {
					name += strconv.Itoa(n)
					break
				}
			}
		}
		ctx.Extensions[name] = md[k]
	}
	ev.Context = ctx
	ev.DataEncoded = m.Data
	// The bytes are opaque: if the event is serialised, carry them in base64
	// rather than guess whether they are JSON or text.
	ev.DataBase64 = true
	return ev
}

// EventOf builds the event for message m, with the trigger and attempt of
// the delivery in ctx. Generated code calls it for handlers that take an
// event.
func EventOf(ctx context.Context, m *bindings.Message) *Event {
	d := FromContext(ctx)
	if d == nil {
		return NewEvent("", "", 1, m)
	}
	return NewEvent(d.Binding, d.BindingType, d.Attempt, m)
}
