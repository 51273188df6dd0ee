// Package bindings is Tether's portable binding layer: the contract every broker
// driver implements, the registry of binding types by their Dapr names, and the
// validation of component metadata against each type's declaration.
//
// A driver package (bindings/memory, bindings/kafka, ...) registers a [Type] in
// its init function. The runtime opens bindings through [OpenInput] and
// [OpenOutput], which validate the metadata against the type's declared keys
// before the driver sees it, so a driver can read its settings with the typed
// getters of [Metadata] without re-checking them:
//
//	in, err := bindings.OpenInput(ctx, bindings.Config{
//		Name:     "orders",
//		Type:     "bindings.memory",
//		Metadata: map[string]string{"queue": "orders"},
//	})
//
// Users of Tether never import a driver's internals: handlers see events and
// typed clients (package functions); the runtime (package trigger) sees [Input]
// and [Output].
package bindings
