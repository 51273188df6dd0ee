package bindings

import (
	"fmt"
	"time"
)

// DeliveryKeys are the runtime's per-trigger delivery settings. Every input
// component may set them, next to its driver's own keys; they are validated
// like the others.
var DeliveryKeys = []MetadataKey{
	{Name: "maxConcurrency", Kind: KindInt, Default: "16", Direction: DirInput, Description: "How many messages of this trigger are handled at once (at least 1)."},
	{Name: "ordered", Kind: KindBool, Default: "false", Direction: DirInput, Description: "Handle messages with the same ordering key (partition, group, stream key) one at a time, in order. Retries then wait in place, holding only that key."},
	{Name: "batchSize", Kind: KindInt, Default: "10", Direction: DirInput, Description: "Most messages fetched from the broker per receive call, where it can batch (at least 1). A binding type may default to another size, chosen by measurement for its broker (bindings.Type.DeliveryDefaults); its page and tether bindings <type> say so."},
	{Name: "maxBatchSize", Kind: KindInt, Default: "100", Direction: DirInput, Description: "For a batch handler: most messages per handler call (at least 1). The trigger then fetches at least this many per receive call. See docs/batch.md."},
	{Name: "maxBatchWait", Kind: KindDuration, Default: "0s", Direction: DirInput, Description: "For a batch handler: how long a batch not full waits for more messages after its first. 0 hands it over as soon as a worker is free; it still grows, up to maxBatchSize, while every worker is busy."},
	{Name: "handlerTimeout", Kind: KindDuration, Default: "5m", Direction: DirInput, Description: "How long one handler call may run; past it the call's context is cancelled and the attempt fails. 0 means no limit."},
	{Name: "maxAttempts", Kind: KindInt, Default: "5", Direction: DirInput, Description: "Attempts per message, the first included, before it is dead-lettered (at least 1)."},
	{Name: "initialInterval", Kind: KindDuration, Default: "1s", Direction: DirInput, Description: "Delay before the first retry."},
	{Name: "maxInterval", Kind: KindDuration, Default: "1m", Direction: DirInput, Description: "Longest delay between retries; not shorter than initialInterval."},
	{Name: "multiplier", Kind: KindFloat, Default: "2", Direction: DirInput, Description: "Factor by which the retry delay grows per attempt (at least 1)."},
	{Name: "jitter", Kind: KindFloat, Default: "0.2", Direction: DirInput, Description: "Random spread of each retry delay, as a fraction of it (0 to 1)."},
	{Name: "deadLetter", Kind: KindString, Direction: DirInput, Description: "Name of the output binding that receives messages that failed every attempt, or failed permanently. It must name a loaded component whose direction includes output. Without it they are nacked for the broker to keep."},
	{Name: "leaseExtension", Kind: KindDuration, Default: "0", Direction: DirInput, Description: "For brokers with leases (visibility timeout, ack deadline, pending idle time): the lease interval. From its receipt until it is acked or nacked (waiting for a worker, being handled, held for a retry), a message's lease is extended every half interval, each time for two intervals, all such messages in one batch call (the driver splits it as its broker requires). 0 lets the driver choose from its lease length."},
}

// DeliveryPolicy holds a trigger's effective delivery settings: how many
// messages at once, ordering, batching, retries, timeout, dead letter,
// leases. (The message being delivered is functions.Delivery.)
type DeliveryPolicy struct {
	MaxConcurrency  int           `json:"maxConcurrency"`
	Ordered         bool          `json:"ordered"`
	BatchSize       int           `json:"batchSize"`
	MaxBatchSize    int           `json:"maxBatchSize"`
	MaxBatchWait    time.Duration `json:"maxBatchWait"`
	HandlerTimeout  time.Duration `json:"handlerTimeout"`
	MaxAttempts     int           `json:"maxAttempts"`
	InitialInterval time.Duration `json:"initialInterval"`
	MaxInterval     time.Duration `json:"maxInterval"`
	Multiplier      float64       `json:"multiplier"`
	Jitter          float64       `json:"jitter"`
	DeadLetter      string        `json:"deadLetter,omitempty"`
	LeaseExtension  time.Duration `json:"leaseExtension"`
}

// Delivery is the former name of DeliveryPolicy, kept so that handler
// tests written as fntest.Delivery(bindings.Delivery{...}) still build.
//
// Deprecated: use DeliveryPolicy; functions.Delivery is the message being
// handled, not its settings.
type Delivery = DeliveryPolicy

// DefaultDeliveryPolicy returns the delivery settings of a component that sets none.
func DefaultDeliveryPolicy() DeliveryPolicy {
	d, _ := ParseDeliveryPolicy(map[string]string{})
	return d
}

// ParseDeliveryPolicy reads the delivery keys from a component's metadata (keys as
// declared; other keys are ignored) and checks the values' ranges.
func ParseDeliveryPolicy(values map[string]string) (DeliveryPolicy, error) {
	md := Metadata{values: map[string]string{}}
	for _, k := range DeliveryKeys {
		v, ok := values[k.Name]
		if !ok {
			v = k.Default
		} else if err := k.Check(v); err != nil {
			return DeliveryPolicy{}, &KeyError{Key: k.Name, Msg: err.Error()}
		}
		md.values[k.Name] = v
	}
	d := DeliveryPolicy{
		MaxConcurrency:  md.Int("maxConcurrency"),
		Ordered:         md.Bool("ordered"),
		BatchSize:       md.Int("batchSize"),
		MaxBatchSize:    md.Int("maxBatchSize"),
		MaxBatchWait:    md.Duration("maxBatchWait"),
		HandlerTimeout:  md.Duration("handlerTimeout"),
		MaxAttempts:     md.Int("maxAttempts"),
		InitialInterval: md.Duration("initialInterval"),
		MaxInterval:     md.Duration("maxInterval"),
		Multiplier:      md.Float("multiplier"),
		Jitter:          md.Float("jitter"),
		DeadLetter:      md.String("deadLetter"),
		LeaseExtension:  md.Duration("leaseExtension"),
	}
	return d, d.Validate()
}

// Validate checks that the settings are usable.
func (d DeliveryPolicy) Validate() error {
	switch {
	case d.MaxConcurrency < 1:
		return &KeyError{Key: "maxConcurrency", Msg: fmt.Sprintf("must be at least 1, got %d", d.MaxConcurrency)}
	case d.BatchSize < 1:
		return &KeyError{Key: "batchSize", Msg: fmt.Sprintf("must be at least 1, got %d", d.BatchSize)}
	case d.MaxBatchSize < 1:
		return &KeyError{Key: "maxBatchSize", Msg: fmt.Sprintf("must be at least 1, got %d", d.MaxBatchSize)}
	case d.MaxBatchWait < 0:
		return &KeyError{Key: "maxBatchWait", Msg: "must not be negative"}
	case d.MaxAttempts < 1:
		return &KeyError{Key: "maxAttempts", Msg: fmt.Sprintf("must be at least 1, got %d", d.MaxAttempts)}
	case d.HandlerTimeout < 0:
		return &KeyError{Key: "handlerTimeout", Msg: "must not be negative"}
	case d.InitialInterval < 0:
		return &KeyError{Key: "initialInterval", Msg: "must not be negative"}
	case d.MaxInterval < d.InitialInterval:
		return &KeyError{Key: "maxInterval", Msg: fmt.Sprintf("%s is shorter than initialInterval %s", d.MaxInterval, d.InitialInterval)}
	case d.Multiplier < 1:
		return &KeyError{Key: "multiplier", Msg: fmt.Sprintf("must be at least 1, got %g", d.Multiplier)}
	case d.Jitter < 0 || d.Jitter > 1:
		return &KeyError{Key: "jitter", Msg: fmt.Sprintf("must be between 0 and 1, got %g", d.Jitter)}
	case d.LeaseExtension < 0:
		return &KeyError{Key: "leaseExtension", Msg: "must not be negative"}
	}
	return nil
}

// Backoff returns the delay before attempt+1, given that attempt (1-based)
// just failed, without jitter.
func (d DeliveryPolicy) Backoff(attempt int) time.Duration {
	delay := float64(d.InitialInterval)
	for i := 1; i < attempt && delay < float64(d.MaxInterval); i++ {
		delay *= d.Multiplier
	}
	return min(time.Duration(delay), d.MaxInterval)
}
