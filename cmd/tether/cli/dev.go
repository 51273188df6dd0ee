package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetherfn/tether/internal/dev"
)

func init() { register(newDevCommand) }

func newDevCommand(env *Env) *cobra.Command {
	var o dev.Options
	var noWatch bool
	cmd := &cobra.Command{
		Use:   "dev [packages]",
		Short: "Run every function of the module together on one local broker, with hot reload",
		Long: `dev generates, builds and runs every function of the packages (default ./...)
together, until Ctrl-C. The functions' memory queues are hosted by tether dev
itself (the dev broker), so one function's output is another's trigger, with
the same retries and dead letters as anywhere; they are kept in
.tether/dev/ across restarts (--fresh starts empty).

On start it prints each function's trigger, outputs and dead-letter binding
and where each points, and the dev API's address: tether send and tether dlq
talk to it (the Dapr-compatible bindings API for every binding of every
function), and the functions' webhooks are served there. Each function's log
lines are prefixed with its name. The dashboard, on the same address under
/ui/ (loopback only), shows the functions as a graph, every delivery as it
happens, each message with its attempts, outputs and trace, the dead letters,
a send form and the metrics.

When a .go file changes, the functions it reaches are generated, built and
started again; the old process is stopped only once the new one is ready,
and its drain hands what it holds back to the broker, so nothing is lost. A
build error keeps the old process running and shows the error. A changed
component file restarts the functions that use it.

Kafka, Pub/Sub, NATS, MQTT, Redis and SQS components whose broker does not
answer (or that name none: the cloud service itself) run on in-process
emulators (--emulate auto); the summary names each emulator's address. The
component files are not changed: each function reads a copy under
.tether/dev/components/<function>/ with the emulator's address laid over,
secrets left as references. --emulate all emulates every such component,
--emulate none none.

Every message's delivery (received, each attempt's outcome and duration,
outputs sent, dead letters) is reported to tether dev: GET /v1.0/dev/events
streams the events (server-sent events), /v1.0/dev/events/recent lists the
last ones, and --events prints them.

Ctrl-C drains every function (up to --grace); a second Ctrl-C stops them at
once. A folder holding its own go.mod is run as folder/... in that module.`,
		Example: `  tether dev
  tether dev ./orders/... ./billing/...
  tether dev --fresh --log-level debug
  tether dev --events              # a line per message received, attempt, output, dead letter
  tether dev --emulate none        # use the brokers the components name
  tether dev --env staging --addr 127.0.0.1:4000`,
		RunE: func(cmd *cobra.Command, args []string) error {
			wd, err := env.workDir()
			if err != nil {
				return err
			}
			o.Dir, o.Patterns, o.NoWatch, o.Stderr = wd, args, noWatch, env.Stderr
			if o.State != "" {
				o.State = absIn(wd, o.State)
			}
			kill := make(chan struct{})
			o.Kill = kill
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			signals := make(chan os.Signal, 2)
			signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(signals)
			// Signals are counted here (the caller's context may end on the
			// first as well): the first drains, the second kills.
			done := make(chan struct{})
			defer close(done)
			go func() {
				select {
				case <-signals:
					cancel()
				case <-done:
					return
				}
				select {
				case <-signals:
					close(kill)
				case <-done:
				}
			}()
			return dev.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Env, "env", "local", "run each function on its components/<env> (else its components folder)")
	f.StringVar(&o.Addr, "addr", "127.0.0.1:3500", "address of the dev API (tether send, tether dlq, webhooks)")
	f.StringVar(&o.State, "state", "", "folder for queues and builds (default .tether/dev)")
	f.BoolVar(&o.Fresh, "fresh", false, "clear the saved queues and dead letters first")
	f.BoolVar(&noWatch, "no-watch", false, "do not reload on changes")
	f.BoolVar(&o.Events, "events", false, "print every delivery event (received, attempt, output, dead-lettered), one line each")
	f.StringVar(&o.Emulate, "emulate", dev.EmulateAuto, "run components on in-process emulators: auto (those whose broker does not answer), all or none")
	_ = cmd.RegisterFlagCompletionFunc("emulate", cobra.FixedCompletions([]string{dev.EmulateAuto, dev.EmulateAll, dev.EmulateNone}, cobra.ShellCompDirectiveNoFileComp))
	f.DurationVar(&o.Grace, "grace", 25*time.Second, "how long stopping functions may drain before they are killed")
	f.StringVar(&o.LogLevel, "log-level", "", "the functions' log level: debug, info, warn or error (default: $TETHER_LOG_LEVEL, or info)")
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	withUsageHint(cmd)
	return cmd
}
