package pubsub

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ensureTopic checks that the topic exists and, when manage is set, creates
// it if it does not. Without permission to look, it goes on: publishing
// tells.
func ensureTopic(ctx context.Context, c *gpubsub.Client, log *slog.Logger, name string, manage bool) error {
	_, err := c.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: name})
	switch status.Code(err) {
	case codes.OK:
		return nil
	case codes.PermissionDenied:
		log.Info("no permission to check that the topic exists; using it as it is", "topic", name)
		return nil
	case codes.NotFound:
		if !manage {
			return fmt.Errorf("topic %s does not exist (disableEntityManagement is set, so it is not created)", name)
		}
	default:
		return fmt.Errorf("look up topic %s: %w", name, err)
	}
	_, err = c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	log.Info("created topic", "topic", name)
	return nil
}

// ensureSubscription does the same for a subscription, creating it (and its
// topic) with message ordering and the ack deadline asked for.
func ensureSubscription(ctx context.Context, c *gpubsub.Client, log *slog.Logger, s settings, name, topic string) error {
	sub, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: name})
	switch status.Code(err) {
	case codes.OK:
		if s.ordering && !sub.GetEnableMessageOrdering() {
			log.Warn("enableMessageOrdering is set, but the existing subscription was created without message ordering: messages of one ordering key may arrive out of order", "subscription", name)
		}
		return nil
	case codes.PermissionDenied:
		log.Info("no permission to check that the subscription exists; using it as it is", "subscription", name)
		return nil
	case codes.NotFound:
		if !s.manage {
			return fmt.Errorf("subscription %s does not exist (disableEntityManagement is set, so it is not created)", name)
		}
		if topic == "" {
			return fmt.Errorf("subscription %s does not exist; set topic to have it created: %w", name, errNoTopic)
		}
	default:
		return fmt.Errorf("look up subscription %s: %w", name, err)
	}
	if err := ensureTopic(ctx, c, log, topic, true); err != nil {
		return err
	}
	_, err = c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name:                  name,
		Topic:                 topic,
		EnableMessageOrdering: s.ordering,
		AckDeadlineSeconds:    int32(s.ackDeadline / time.Second),
		// Keep unacknowledged messages as long as Pub/Sub allows by default.
		MessageRetentionDuration: durationpb.New(7 * 24 * time.Hour),
	})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("create subscription %s on %s: %w", name, topic, err)
	}
	log.Info("created subscription", "subscription", name, "topic", topic, "ordering", s.ordering)
	return nil
}
