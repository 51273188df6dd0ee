// Package cli holds the commands of the tether command line. Each command
// lives in its own file and registers its constructor with register in an
// init function, so adding a command touches no other file:
//
//	func init() { register(newFooCommand) }
//
//	func newFooCommand(env *Env) *cobra.Command {
//		return &cobra.Command{Use: "foo", Short: "...", Example: "...", RunE: ...}
//	}
//
// Commands print results to env.Stdout and problems to env.Stderr, and fail
// with an error; Execute turns the error into an exit status (ExitError
// chooses one).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
)

// Env is what commands run with: where output goes and where they run.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	// Dir is the working directory; "" means the process's.
	Dir string
}

// workDir returns the directory relative paths are resolved in.
func (e *Env) workDir() (string, error) {
	if e.Dir != "" {
		return e.Dir, nil
	}
	return os.Getwd()
}

var (
	commandsMu sync.Mutex
	commands   []func(*Env) *cobra.Command
)

// register adds a command to every root command made afterwards.
func register(newCommand func(*Env) *cobra.Command) {
	commandsMu.Lock()
	defer commandsMu.Unlock()
	commands = append(commands, newCommand)
}

// NewRoot returns the tether root command with every registered command.
func NewRoot(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "tether",
		Short: "Event-triggered Go functions, wired by go generate",
		Long: `tether wires plain Go functions to input bindings (queues, topics, webhooks,
schedules...) and injects their output bindings as typed clients.

Annotate a handler with //tether:function, then run tether generate.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// tether --version prints what tether version does.
		Version: buildVersion().String(),
	}
	root.SetVersionTemplate("tether {{.Version}}\n")
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	commandsMu.Lock()
	defer commandsMu.Unlock()
	for _, c := range commands {
		root.AddCommand(c(env))
	}
	return root
}

// ExitError fails a command with a chosen exit status. A nil Err means the
// command already said everything on stderr.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Execute runs the tether command line with args (without the program name)
// and returns the process exit status: 0 on success, the ExitError's code,
// or 1 for other errors (printed to stderr).
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, &Env{Stdout: stdout, Stderr: stderr}, args)
}

// Run is Execute in a given environment, for tests.
func Run(ctx context.Context, env *Env, args []string) int {
	stderr := env.Stderr
	root := NewRoot(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		if exit.Err != nil {
			printError(stderr, exit.Err)
		}
		return exit.Code
	}
	printError(stderr, err)
	return 1
}

// printError prints err after "tether: ", unless it already names the
// command it comes from ("tether send: ..." from a usage error), which
// would read "tether: tether send: ...".
func printError(w io.Writer, err error) {
	if msg := err.Error(); strings.HasPrefix(msg, "tether ") {
		fmt.Fprintln(w, msg)
		return
	}
	fmt.Fprintln(w, "tether:", err)
}
