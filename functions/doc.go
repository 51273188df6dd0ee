// Package functions is what a Tether handler imports: the types a handler
// takes and returns, its typed output clients, and the errors that steer the
// runtime's retry and dead-letter policy.
//
// A function is a plain Go function with a directive; `go generate` wires it
// to its trigger and binds the fields of its Outputs struct:
//
//	type Outputs struct {
//		Greetings functions.Output[Greeting] `binding:"greetings"`
//	}
//
//	//tether:function greet trigger=names
//	func Greet(ctx context.Context, p Person, out Outputs) error {
//		if p.Name == "" {
//			return functions.Permanent(errors.New("no name")) // straight to the dead letter
//		}
//		return out.Greetings.Send(ctx, Greeting{Message: "Hello, " + p.Name + "!"})
//	}
//
// The Outputs struct (any name will do) holds what is bound once at start-up:
// output clients, tagged binding:"<component>", and settings structs, tagged
// env:"<PREFIX>" and loaded with envconfig.
//
// What a handler returns decides what happens to the message:
//
//   - nil: the message is acked.
//   - an error: the attempt failed; the message is retried with backoff, then
//     dead-lettered (see [DeadLetter]) once the trigger's attempts are spent.
//   - [Permanent](err): no retry; the message goes to the dead letter now.
//   - [RetryAfter](d, err): retry after d instead of the backoff.
//
// A handler reads the delivery it is working on from its context
// ([FromContext], [MessageMetadata], [Logger]), or takes the whole message as an
// [Event] (CloudEvents 1.0). Handlers are unit-tested with package
// [github.com/tetherfn/tether/functions/fntest], which runs them through the
// runtime's real decode and delivery policy on recording outputs.
//
// Drivers and the runtime hand opened output bindings to typed clients with
// bindings.OutputBinding and bindings.Binder; handler code never needs them.
package functions
