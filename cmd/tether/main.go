// Command tether is the command line of the Tether framework: it generates
// the wiring of functions (tether generate) and, as it grows, scaffolds,
// runs, builds and deploys them. The commands live in package cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tetherfn/tether/cmd/tether/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
