package main

// docs/cli.md, the reference of the command line, is written from the
// commands themselves.
//go:generate go run ./internal/clidoc -o ../../docs/cli.md
