// Command tether-sidecar is tether sidecar alone: the bindings runtime for
// an app in any language, with daprd's flags, and every binding driver but
// nothing else of the tether command (no code generator, image builder or
// emulators), so that its image stays small. tether build --sidecar builds
// it into an image as /tether, so that the image runs
// "tether sidecar --resources-path /components" as docs/sidecar.md shows.
//
// It is built with -tags grpcnotrace (gRPC's debug tracing pages pull in
// html/template, and with it every exported method of every type: about a
// quarter of the binary). With the tag tether_drivers, only the drivers
// named by tether_<driver> tags are linked (tether build --sidecar
// --resources-path does so for the types a components folder uses).
//
//	CGO_ENABLED=0 go build -trimpath -tags grpcnotrace -ldflags='-s -w' -o tether ./cmd/tether-sidecar
//	./tether sidecar --app-id orders --app-port 3000 --resources-path ./components
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/tetherfn/tether/internal/sidecar"
	"github.com/tetherfn/tether/trigger"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "sidecar" {
		args = args[1:]
	} else if len(args) > 0 && args[0] == "version" {
		fmt.Println("tether sidecar", trigger.RuntimeVersion())
		return 0
	}
	f := pflag.NewFlagSet("tether sidecar", pflag.ContinueOnError)
	o := sidecar.Flags(f)
	f.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: tether sidecar [flags]\n\nThe bindings runtime beside an app in any language, in place of daprd (docs/sidecar.md).\n\nFlags:\n%s", f.FlagUsages())
	}
	if err := f.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "tether sidecar: %v\nsee: tether sidecar --help\n", err)
		return 2
	}
	if f.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "tether sidecar: unexpected argument %q\nsee: tether sidecar --help\n", f.Arg(0))
		return 2
	}
	err := o.Run(ctx, f)
	var usage *sidecar.UsageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "tether sidecar: %s\nsee: tether sidecar --help\n", usage.Msg)
		return 2
	case err != nil:
		fmt.Fprintln(os.Stderr, "tether sidecar:", err)
		return 1
	}
	return 0
}
