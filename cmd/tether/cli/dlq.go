package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tetherfn/tether/internal/dlq"
)

func init() { register(newDLQCommand) }

// dlqOptions are the flags shared by the tether dlq commands.
type dlqOptions struct {
	controlAPI
	output string
	edit   bool
	to     string
}

func newDLQCommand(env *Env) *cobra.Command {
	o := dlqOptions{controlAPI: controlAPI{notRunning: "is tether dev running? (or pass --addr)"}}
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, show, replay and purge the dead letters of a dead-letter binding",
		Long: `dlq reads a dead-letter binding through the Dapr-compatible API of tether dev
(or of a running function), with the binding's list, get and delete
operations: bindings.memory has them, so every dead-letter queue of tether
dev can be read.

Each dead letter is the envelope the runtime wrote: the function, the
binding the message came from, the error, the attempts, and the original
payload and metadata. replay sends the original payload and metadata back to
the binding it came from (or --to another), then deletes the dead letter;
--edit opens the payload in $EDITOR first.`,
		Example: `  tether dlq list rejected
  tether dlq show rejected 3f1c0a9e5b7d2c41
  tether dlq replay rejected                 # every dead letter
  tether dlq replay rejected 3f1c0a9e5b7d2c41 --edit
  tether dlq purge rejected`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.addr, "addr", "127.0.0.1:3500", "address of tether dev's API (or of a function's control API)")
	pf.StringVar(&o.token, "token", "", "API token, when required (default: $DAPR_API_TOKEN, then $TETHER_API_TOKEN)")
	pf.DurationVar(&o.timeout, "timeout", time.Minute, "how long to wait for each answer")

	list := &cobra.Command{
		Use:   "list <binding>",
		Short: "List the dead letters of a binding",
		Example: `  tether dlq list rejected
  tether dlq list rejected --output json`,
		Args: exactArgs(1, "want the dead-letter binding's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			letters, err := dlq.List(cmd.Context(), o.invoker(), args[0])
			if err != nil {
				return err
			}
			if o.output == "json" {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(letters)
			}
			if len(letters) == 0 {
				fmt.Fprintf(env.Stderr, "tether: %s holds no dead letters\n", args[0])
				return nil
			}
			tw := tabwriter.NewWriter(env.Stdout, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFUNCTION\tFROM\tATTEMPTS\tFAILED\tERROR")
			for _, l := range letters {
				e := l.Envelope
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", l.ID, e.Function, e.Binding, e.Attempts,
					e.LastFailure.Local().Format(time.DateTime), oneLine(e.Error, 80))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVarP(&o.output, "output", "o", "table", "table or json")

	show := &cobra.Command{
		Use:     "show <binding> <id>",
		Short:   "Show one dead letter: its envelope, with the payload as text when it is",
		Example: `  tether dlq show rejected 3f1c0a9e5b7d2c41`,
		Args:    exactArgs(2, "want the dead-letter binding's name and a dead letter's id (tether dlq list shows them)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := dlq.Get(cmd.Context(), o.invoker(), args[0], args[1])
			if err != nil {
				return err
			}
			out := map[string]any{"id": l.ID, "envelope": l.Envelope}
			if utf8.Valid(l.Envelope.Data) {
				if json.Valid(l.Envelope.Data) {
					out["payload"] = json.RawMessage(l.Envelope.Data)
				} else {
					out["payload"] = string(l.Envelope.Data)
				}
			}
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}

	replay := &cobra.Command{
		Use:   "replay <binding> [id...]",
		Short: "Send dead letters back to the binding they came from, then delete them",
		Example: `  tether dlq replay rejected
  tether dlq replay rejected 3f1c0a9e5b7d2c41 --edit
  tether dlq replay rejected --to names-retry`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usageError(cmd, "want the dead-letter binding's name, then the ids to replay (none: all)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return replayDeadLetters(cmd.Context(), env, args[0], args[1:], o)
		},
	}
	replay.Flags().BoolVar(&o.edit, "edit", false, "open each payload in $EDITOR before sending it")
	replay.Flags().StringVar(&o.to, "to", "", "send to this binding instead of the one each dead letter came from")

	purge := &cobra.Command{
		Use:     "purge <binding>",
		Short:   "Delete every dead letter of a binding",
		Example: `  tether dlq purge rejected`,
		Args:    exactArgs(1, "want the dead-letter binding's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := dlq.Purge(cmd.Context(), o.invoker(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stderr, "tether: %s: deleted %s\n", args[0], plural(n, "dead letter"))
			return nil
		},
	}
	for _, c := range []*cobra.Command{list, show, replay, purge} {
		c.ValidArgsFunction = cobra.NoFileCompletions
		withUsageHint(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func exactArgs(n int, msg string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError(cmd, msg)
		}
		return nil
	}
}

// invoker is how tether dlq reaches a binding: the bindings API at o.addr.
func (o dlqOptions) invoker() dlq.Invoker {
	return func(ctx context.Context, binding, operation string, data []byte, md map[string]string) ([]byte, error) {
		return invokeBinding(ctx, binding, operation, data, md, o)
	}
}

func replayDeadLetters(ctx context.Context, env *Env, binding string, ids []string, o dlqOptions) error {
	invoke := o.invoker()
	var letters []dlq.Letter
	if len(ids) == 0 {
		all, err := dlq.List(ctx, invoke, binding)
		if err != nil {
			return err
		}
		letters = all
	}
	for _, id := range ids {
		l, err := dlq.Get(ctx, invoke, binding, id)
		if err != nil {
			return err
		}
		letters = append(letters, l)
	}
	replayed := 0
	for _, l := range letters {
		if l.State == "in-flight" {
			fmt.Fprintf(env.Stderr, "tether: %s: %s is being received by someone; skipped\n", binding, l.ID)
			continue
		}
		var data []byte
		if o.edit {
			edited, err := editPayload(ctx, env, l.Envelope.Data)
			if err != nil {
				return fmt.Errorf("--edit %s: %w", l.ID, err)
			}
			data = edited
		}
		if err := dlq.Replay(ctx, invoke, binding, l, o.to, data); err != nil {
			return err
		}
		to := l.Envelope.Binding
		if o.to != "" {
			to = o.to
		}
		fmt.Fprintf(env.Stderr, "tether: replayed %s to %s\n", l.ID, to)
		replayed++
	}
	fmt.Fprintf(env.Stderr, "tether: %s: replayed %s\n", binding, plural(replayed, "dead letter"))
	return nil
}

// editPayload opens data in $EDITOR (else vi) and returns what was saved.
func editPayload(ctx context.Context, env *Env, data []byte) ([]byte, error) {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	dir, err := os.MkdirTemp("", "tether-dlq-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ext := ".txt"
	if json.Valid(data) {
		ext = ".json"
	}
	path := filepath.Join(dir, "payload"+ext)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	// $EDITOR may hold arguments ("code --wait"): run it through the shell.
	cmd := exec.CommandContext(ctx, "sh", "-c", editor+` "$1"`, "sh", path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, env.Stderr, env.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", editor, err)
	}
	return os.ReadFile(path)
}

// invokeBinding calls operation on binding through the bindings API at
// o.addr and returns the answer's data.
func invokeBinding(ctx context.Context, binding, operation string, data []byte, md map[string]string, o dlqOptions) ([]byte, error) {
	body := map[string]any{"operation": operation}
	if len(md) > 0 {
		body["metadata"] = md
	}
	if data != nil {
		if !utf8.Valid(data) {
			return nil, fmt.Errorf("%s: the payload is not text; the bindings API carries text only", binding)
		}
		body["data"] = string(data) // a JSON string: delivered byte for byte
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	answer, err := o.invoke(ctx, binding, payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", operation, err)
	}
	return answer.data, nil
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return s
}
