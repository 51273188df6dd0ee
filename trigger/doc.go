// Package trigger is Tether's runtime: it opens a function's bindings from
// loaded components, runs one receive loop per trigger feeding a bounded
// pool of workers, passes every message through the delivery middleware
// (metrics, logging, dead letter, retry, recover, timeout), acks or nacks it
// from the outcome, drains on shutdown, and serves HTTP: /healthz, /readyz,
// /metrics, /v1.0/status, webhook routes and Dapr's bindings API.
//
// Generated code calls Main; a hand-written program can do the same:
//
//	func main() {
//		trigger.Main(trigger.Function{
//			Name:    "greet",
//			Trigger: "names",
//			Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
//				return trigger.Result{Data: append([]byte("hello "), m.Data...)}, nil
//			},
//			Return: "greetings",
//		})
//	}
//
// The delivery contract: a message is acked only after its handler returned
// nil, or after it was dead-lettered. A failed attempt (error, panic,
// timeout) is delivered again after a backoff without holding up the other
// messages — through the broker's delayed nack where it has one, otherwise
// held here, unsettled (intake waits while 4 × (maxConcurrency + batchSize)
// are held) — until maxAttempts; then it goes to the trigger's deadLetter
// binding in a functions.DeadLetter envelope, or, without one, to the
// broker's native dead letter or back to the broker to keep. On brokers with
// leases, the lease of a message is extended every half interval from its
// receipt until it is settled: while it waits for a worker, while its handler
// runs and while it is held for a retry. On shutdown, intake stops, in-flight handlers finish within the grace period,
// and every message not handled is nacked for redelivery. At the end of the
// grace period the handlers still running see their context cancelled
// (context.Canceled); their messages are nacked without counting as failed
// attempts, unless the handler still returned nil.
//
// A handler's context ends with its attempt, as a request's context does.
package trigger
