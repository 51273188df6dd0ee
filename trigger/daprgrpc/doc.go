// Package daprgrpc serves Dapr's gRPC API for the bindings building block,
// so that apps using Dapr's SDKs over gRPC (their default in Go, Java, .NET
// and Python) work with tether sidecar: the dapr.proto.runtime.v1.Dapr
// service's InvokeBinding, GetMetadata and Shutdown, and deliveries to an
// app's AppCallback service (ListInputBindings, OnBindingEvent). The
// messages are Dapr's published protobufs (github.com/dapr/dapr).
package daprgrpc
