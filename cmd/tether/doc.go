package main

// docs/cli.md, the reference of the command line, is written from the
// commands themselves.
//go:generate go run ./internal/clidoc -o ../../docs/cli.md

// The key tables of docs/bindings/<type>.md and the delivery keys of
// docs/components.md are written from the binding types' declarations.
//go:generate go run ./internal/bindingdoc -dir ../../docs/bindings -components ../../docs/components.md
