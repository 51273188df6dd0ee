package trigger

import (
	"context"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// ChainOptions say how Chain wraps a handler.
type ChainOptions struct {
	Function, Binding string
	Policy            bindings.DeliveryPolicy
	// Return, when set, receives successful results (operation create).
	Return *bindings.OutputBinding
	// DeadLetter, when set, receives messages that failed for good.
	DeadLetter bindings.Output
	// Metrics, when set, counts the attempts (Metrics.Middleware), the
	// outermost middleware but Tracing.
	Metrics *Metrics
	// Tracing, when set, is the outermost middleware: the delivery and
	// attempt spans (Options.TracerProvider).
	Tracing Middleware
	// Redact, when set, hides secrets in what a dead letter carries besides
	// the payload: the error and the metadata values.
	Redact func(string) string
	// Credentials are metadata keys never copied into a dead letter (see
	// bindings.CredentialKeys).
	Credentials []string
	// Observer, when set, sees each attempt from outside the whole chain
	// (see Observer); nil adds nothing.
	Observer Observer
	// Middleware is the user's, the first outermost, between the
	// runtime's timeout and the handler (with its return binding): the
	// delivery in ctx, the timeout's deadline and the recovery of panics
	// apply to it, and its errors go through retry and dead letter like
	// the handler's. A middleware may wrap ctx as it likes: the runtime's
	// accounting (attempts, timeouts, shutdown) does not read it back.
	Middleware []Middleware
}

// Chain wraps h with the delivery middleware the runtime runs every
// message through, outermost first: observer (when set), tracing, metrics,
// logging, dead letter, retry, recover, timeout, the user's
// (o.Middleware), return. fntest uses it too, so a handler's unit test sees
// exactly the runtime's decisions (read them with Decide).
func Chain(h Handler, o ChainOptions) Handler {
	chain, _ := chainWith(h, o, newFailureLog(failureLogMax))
	return chain
}

// chainWith is Chain with the dead-letter middleware's failure log. It
// also returns the runtime's own middleware when nothing else is in the
// chain (no return binding, user middleware, tracing or observer: the
// chain is its handle around h); nil otherwise. A batch function's worker
// then settles the items its BatchHandler handled through it without a
// call each (ownChain.handledItem).
func chainWith(h Handler, o ChainOptions, failures *failureLog) (Handler, *ownChain) {
	bare := o.Return == nil && len(o.Middleware) == 0 && o.Tracing == nil && o.Observer == nil
	if o.Return != nil {
		h = returnTo(*o.Return)(h)
	}
	for i := len(o.Middleware) - 1; i >= 0; i-- {
		h = o.Middleware[i](h)
	}
	own := &ownChain{
		next:    h,
		timeout: o.Policy.HandlerTimeout,
		policy:  o.Policy,
		deadLetters: &deadLetters{
			function: o.Function, binding: o.Binding, out: o.DeadLetter, keep: o.Policy.MaxInterval,
			filter: envelopeFilter{redact: o.Redact, drop: o.Credentials}, failures: failures,
		},
	}
	if o.Metrics != nil {
		own.metrics = o.Metrics.trigger(o.Function, o.Binding)
	}
	h = own.handle
	if o.Tracing != nil {
		h = o.Tracing(h)
	}
	if o.Observer != nil {
		filter := envelopeFilter{redact: o.Redact, drop: o.Credentials}
		h = observe(o.Observer, o.Function, o.Binding, o.Policy.DeadLetter, filter)(h)
	}
	if !bare {
		own = nil
	}
	return h, own
}

// ownChain is the runtime's own middleware around next: metrics, logging,
// dead letter, retry, recover and timeout, outermost first. It is one
// call, each middleware's work a step of it, rather than a closure per
// middleware, each calling the next: the layers cost as much as the rest
// of a message's dispatch. Each exported middleware (Logging, Retry,
// Recover, Timeout, Metrics.Middleware, DeadLetter) is its step around
// next, so either way a message meets the same code in the same order.
type ownChain struct {
	next        Handler
	timeout     time.Duration // 0: none
	policy      bindings.DeliveryPolicy
	deadLetters *deadLetters
	metrics     *triggerMetrics // nil: none
}

func (c *ownChain) handle(ctx context.Context, m *bindings.Message) (Result, error) {
	var shard *attemptShard
	var start time.Duration
	if c.metrics != nil {
		shard, start = c.metrics.begin(ctx)
	}
	res, err := c.call(ctx, m)
	if err != nil {
		err = retried(c.policy, ctx, m, err)
	}
	err = c.deadLetters.settle(ctx, m, err)
	logOutcome(ctx, err)
	if c.metrics != nil {
		c.metrics.end(shard, start, err)
	}
	return res, err
}

// handledItem does for m what handle does when next succeeds on it and
// nothing outside the chain looks (debug logging off): the dead-letter
// step forgets m's earlier failures. Its metrics are counted with those of
// the other items handled (handledItems).
func (c *ownChain) handledItem(m *bindings.Message) { c.deadLetters.failures.forget(m.ID) }

// handledItems counts n attempts that succeeded, each of duration each,
// in shard, as handle's metrics step would one by one.
func (c *ownChain) handledItems(shard uint8, n int, each time.Duration) {
	if c.metrics != nil {
		c.metrics.stats.shard(shard).handled(n, each)
	}
}

// call is Recover and Timeout around next.
func (c *ownChain) call(ctx context.Context, m *bindings.Message) (res Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = Result{}, panicked(ctx, v)
		}
	}()
	if c.timeout <= 0 {
		return c.next(ctx, m)
	}
	return callTimed(ctx, m, c.timeout, c.next)
}

// returnTo sends a successful handler's result to the return binding; a
// failed send fails the attempt.
func returnTo(out bindings.OutputBinding) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *bindings.Message) (Result, error) {
			res, err := next(ctx, m)
			if err != nil || res.Data == nil {
				return res, err
			}
			_, err = out.Invoke(ctx, &bindings.InvokeRequest{
				Operation: bindings.OpCreate, Data: res.Data, ContentType: res.ContentType, Metadata: res.Metadata,
			})
			return res, err
		}
	}
}
