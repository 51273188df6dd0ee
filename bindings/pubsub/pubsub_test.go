package pubsub_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/pubsub"
)

// rawClient is a client library client on the in-process pstest, for what
// the tests do besides the binding.
func rawClient(t testing.TB) *gpubsub.Client { return clientAt(t, pstestAddr()) }

// clientAt is a client library client on the emulator at addr.
func clientAt(t testing.TB, addr string) *gpubsub.Client {
	t.Helper()
	c, err := gpubsub.NewClient(context.Background(), project,
		option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openInput(t *testing.T, ctx context.Context, md map[string]string) bindings.Input {
	t.Helper()
	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: pubsub.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("OpenInput: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func openOutput(t *testing.T, ctx context.Context, md map[string]string) bindings.Output {
	t.Helper()
	out, _, err := bindings.OpenOutput(ctx, bindings.Config{Name: "out", Type: pubsub.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("OpenOutput: %v", err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

func receiveOne(t *testing.T, ctx context.Context, in bindings.Input) *bindings.Message {
	t.Helper()
	msgs, err := in.Receive(ctx, 1)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return msgs[0]
}

func names() (topic, sub string) {
	n := bindingtest.Unique("t")
	return n, n + "-sub"
}

// TestForeignPublisher receives what another client published: attributes,
// ordering key, publish time and content type arrive where documented.
func TestForeignPublisher(t *testing.T) {
	ctx := testContext(t)
	topic, sub := names()
	in := openInput(t, ctx, metadata(pstestAddr(), topic, sub, map[string]string{"enableMessageOrdering": "true"}))
	p := rawClient(t).Publisher("projects/" + project + "/topics/" + topic)
	p.EnableMessageOrdering = true
	defer p.Stop()
	before := time.Now().Add(-time.Second)
	id, err := p.Publish(ctx, &gpubsub.Message{
		Data:        []byte{0, 1, 2, 0xff},
		OrderingKey: "customer-7",
		Attributes:  map[string]string{"tenant": "acme", "contentType": "application/octet-stream"},
	}).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := receiveOne(t, ctx, in)
	if m.ID != id || string(m.Data) != "\x00\x01\x02\xff" || m.Key != "customer-7" || m.ContentType != "application/octet-stream" {
		t.Errorf("ID %q Data %q Key %q ContentType %q; want %q, the bytes, customer-7, application/octet-stream", m.ID, m.Data, m.Key, m.ContentType, id)
	}
	if m.Time.Before(before) || m.Time.After(time.Now()) || m.DeliveryCount != 1 {
		t.Errorf("Time %v, DeliveryCount %d; want the publish time and 1", m.Time, m.DeliveryCount)
	}
	want := map[string]string{"tenant": "acme", "id": id, "orderingKey": "customer-7", "publishTime": m.Time.UTC().Format(time.RFC3339Nano)}
	for k, v := range want {
		if m.ReadMetadata()[k] != v {
			t.Errorf("metadata %q = %q, want %q (all: %v)", k, m.ReadMetadata()[k], v, m.ReadMetadata())
		}
	}
	if _, ok := m.ReadMetadata()["contentType"]; ok {
		t.Errorf("contentType is Message.ContentType, not metadata: %v", m.ReadMetadata())
	}
	if err := in.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := in.Ack(ctx, m); !errors.Is(err, pubsub.ErrNotInFlight) {
		t.Errorf("second Ack = %v, want ErrNotInFlight", err)
	}
}

// TestDeliveryAttempt: on a subscription with a dead-letter policy, Pub/Sub
// counts deliveries and the input passes the count on.
func TestDeliveryAttempt(t *testing.T) {
	ctx := testContext(t)
	topic, sub := names()
	c := rawClient(t)
	topicName := "projects/" + project + "/topics/" + topic
	for _, name := range []string{topicName, topicName + "-dead"} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: "projects/" + project + "/subscriptions/" + sub, Topic: topicName,
		DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{DeadLetterTopic: topicName + "-dead", MaxDeliveryAttempts: 5},
	}); err != nil {
		t.Fatal(err)
	}
	md := metadata(pstestAddr(), topic, sub, nil)
	in := openInput(t, ctx, md)
	if _, err := openOutput(t, ctx, md).Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("counted")}); err != nil {
		t.Fatal(err)
	}
	first := receiveOne(t, ctx, in)
	if err := in.Nack(ctx, first, 0); err != nil {
		t.Fatal(err)
	}
	second := receiveOne(t, ctx, in)
	if first.DeliveryCount != 1 || second.DeliveryCount != 2 || second.ReadMetadata()["deliveryAttempt"] != "2" {
		t.Errorf("DeliveryCount %d then %d (metadata %v); want 1 then 2", first.DeliveryCount, second.DeliveryCount, second.ReadMetadata())
	}
	if err := in.Ack(ctx, second); err != nil {
		t.Fatal(err)
	}
}

// TestEntityManagement: missing topics and subscriptions are created, or
// reported at open with disableEntityManagement.
func TestEntityManagement(t *testing.T) {
	ctx := testContext(t)
	topic, sub := names()
	disabled := map[string]string{"disableEntityManagement": "true"}
	_, _, err := bindings.OpenOutput(ctx, bindings.Config{Name: "out", Type: pubsub.TypeName, Metadata: metadata(pstestAddr(), topic, sub, disabled)})
	if err == nil || !strings.Contains(err.Error(), topic) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("OpenOutput of a missing topic without entity management = %v, want an error naming it", err)
	}
	_, _, err = bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: pubsub.TypeName, Metadata: metadata(pstestAddr(), topic, sub, disabled)})
	if err == nil || !strings.Contains(err.Error(), sub) {
		t.Errorf("OpenInput of a missing subscription without entity management = %v, want an error naming it", err)
	}
	noTopic := metadata(pstestAddr(), "", sub, nil)
	delete(noTopic, "topic")
	_, _, err = bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: pubsub.TypeName, Metadata: noTopic})
	if err == nil || !strings.Contains(err.Error(), "set topic") {
		t.Errorf("OpenInput of a missing subscription with no topic = %v, want an error asking for topic", err)
	}
	// With entity management (the default), the input creates both.
	openInput(t, ctx, metadata(pstestAddr(), topic, sub, nil))
	got, err := rawClient(t).SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: "projects/" + project + "/subscriptions/" + sub})
	if err != nil || got.GetTopic() != "projects/"+project+"/topics/"+topic || got.GetAckDeadlineSeconds() != 20 {
		t.Errorf("created subscription %v (%v), want one on the topic with a 20s ack deadline", got, err)
	}
	// Now both exist, and disableEntityManagement opens them.
	openInput(t, ctx, metadata(pstestAddr(), topic, sub, disabled))
	openOutput(t, ctx, metadata(pstestAddr(), topic, sub, disabled))
}

// TestTopicOverride: metadata topic publishes one message elsewhere, as in
// Dapr's binding.
func TestTopicOverride(t *testing.T) {
	ctx := testContext(t)
	topic, sub := names()
	other, otherSub := names()
	out := openOutput(t, ctx, metadata(pstestAddr(), topic, sub, nil))
	otherIn := openInput(t, ctx, metadata(pstestAddr(), other, otherSub, nil))
	resp, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("elsewhere"),
		Metadata: map[string]string{"topic": other, "k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	m := receiveOne(t, ctx, otherIn)
	if string(m.Data) != "elsewhere" || m.ID != resp.Metadata["messageId"] || m.ReadMetadata()["k"] != "v" {
		t.Errorf("received %q id %q metadata %v; want elsewhere, id %q, k=v", m.Data, m.ID, m.ReadMetadata(), resp.Metadata["messageId"])
	}
	if _, ok := m.ReadMetadata()["topic"]; ok {
		t.Errorf("the topic key steers the publish; it is not an attribute: %v", m.ReadMetadata())
	}
	_ = otherIn.Ack(ctx, m)
}

// TestCreateRules: create refuses a message Pub/Sub would, and an unknown
// operation.
func TestCreateRules(t *testing.T) {
	ctx := testContext(t)
	topic, sub := names()
	out := openOutput(t, ctx, metadata(pstestAddr(), topic, sub, nil))
	if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate}); err == nil || !strings.Contains(err.Error(), "without data or attributes") {
		t.Errorf("create with nothing = %v, want an error", err)
	}
	// An empty payload with attributes is a valid Pub/Sub message.
	if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Metadata: map[string]string{"event": "ping"}}); err != nil {
		t.Errorf("create with attributes only: %v", err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("x")}); !errors.Is(err, bindings.ErrClosed) {
		t.Errorf("create after Close = %v, want ErrClosed", err)
	}
}
