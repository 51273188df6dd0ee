package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/dev"
	"github.com/tetherfn/tether/trigger"
)

func init() { register(newSendCommand) }

// sendOptions are the flags of tether send.
type sendOptions struct {
	data      string
	metadata  []string
	operation string
	controlAPI
	// noData is set when the command line gave no --data: a create then
	// is a mistake (an empty message), other operations need none.
	noData bool
	// sample: send the example payload of the input of the function the
	// binding triggers.
	sample bool
}

func newSendCommand(env *Env) *cobra.Command {
	o := sendOptions{controlAPI: controlAPI{notRunning: sendNotRunning}}
	cmd := &cobra.Command{
		Use:   "send <binding> --data <json>|@<file>",
		Short: "Invoke a binding of a running function, e.g. put a message on its trigger",
		Long: `send invokes an output binding of a running function (tether run) through the
runtime's Dapr-compatible API: POST /v1.0/bindings/<binding> with
{"operation": "create", "data": ..., "metadata": {...}}. A memory
component that is both input and output (the trigger in components/local)
delivers what it is sent to its function.

--data is JSON, or text sent as it is; @file reads it from a file; it is
required for create (--data '' sends an empty message), except on a cron
trigger: tether send <cron-binding> without --data fires it now (under
tether dev, or on a function's control API), and prints the tick's id. JSON data
is sent with the content type application/json unless --metadata sets
contentType. The binding's answer is printed on stdout.`,
		Example: `  tether send hello-in --data '{"id":"m-1","text":"hello"}'
  tether send orders-in --data @order.json --metadata partitionKey=customer-7
  tether send nightly                 # a cron trigger: fires it now
  tether send orders-in --sample      # an example of the function's input type
  tether send files --operation get --metadata fileName=report.csv --addr 127.0.0.1:3501`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(cmd, "want the name of one binding (a component of the running function)")
			}
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.noData = !cmd.Flags().Changed("data")
			return send(cmd.Context(), env, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.data, "data", "", "the data: JSON, text, or @file")
	f.BoolVar(&o.sample, "sample", false, "send an example of the input of the function the binding triggers, generated from its type (in place of --data)")
	f.StringArrayVar(&o.metadata, "metadata", nil, "metadata key=value for the binding; repeat for more")
	f.StringVar(&o.operation, "operation", "create", "the binding operation")
	f.StringVar(&o.addr, "addr", "127.0.0.1:3500", "address of the function's control API (TETHER_API_HOST:TETHER_API_PORT)")
	f.StringVar(&o.token, "token", "", "API token, when the function requires one (default: $DAPR_API_TOKEN, then $TETHER_API_TOKEN)")
	f.DurationVar(&o.timeout, "timeout", time.Minute, "how long to wait for the answer")
	withUsageHint(cmd)
	return cmd
}

// sendNotRunning is what tether send says when nothing listens on --addr.
const sendNotRunning = "is the function running? tether run <folder> starts it; its control API listens on TETHER_API_HOST:TETHER_API_PORT (default 127.0.0.1:3500), on the function's machine"

func send(ctx context.Context, env *Env, binding string, o sendOptions) error {
	if _, err := o.url(); err != nil {
		return usageErrorf("send", "%v", err)
	}
	body := struct {
		Data      json.RawMessage   `json:"data,omitempty"`
		Metadata  map[string]string `json:"metadata,omitempty"`
		Operation string            `json:"operation"`
	}{Operation: o.operation}
	for _, kv := range o.metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErrorf("send", "--metadata %q: want key=value", kv)
		}
		if body.Metadata == nil {
			body.Metadata = map[string]string{}
		}
		body.Metadata[k] = v
	}
	// Without --data, create is a mistake, unless the binding is a trigger
	// that makes its own messages (cron): that one fires now. Only the API
	// knows which it is: fire is asked, and an API that has no such
	// operation for the binding means the mistake.
	fire := o.noData && !o.sample && o.operation == string(bindings.OpCreate)
	if fire {
		body.Operation = string(bindings.OpFire)
	}
	data := []byte(o.data)
	if o.sample {
		if !o.noData {
			return usageErrorf("send", "--sample and --data: give one or the other")
		}
		si, err := o.sampleOf(ctx, binding)
		if err != nil {
			return err
		}
		data = []byte(si.Example)
		if _, set := body.Metadata["contentType"]; !set {
			if body.Metadata == nil {
				body.Metadata = map[string]string{}
			}
			body.Metadata["contentType"] = si.ContentType
		}
		fmt.Fprintf(env.Stderr, "tether: %s: the sample of %s's input (%s): %s\n", binding, si.Function, si.Type, si.Example)
	}
	if strings.HasPrefix(o.data, "@") {
		wd, err := env.workDir()
		if err != nil {
			return err
		}
		if data, err = os.ReadFile(absIn(wd, o.data[1:])); err != nil {
			return fmt.Errorf("--data %s: %w", o.data, err)
		}
	}
	if len(data) > 0 {
		if json.Valid(data) {
			body.Data = data
			if _, set := body.Metadata["contentType"]; !set && (data[0] == '{' || data[0] == '[') {
				if body.Metadata == nil {
					body.Metadata = map[string]string{}
				}
				body.Metadata["contentType"] = "application/json"
			}
		} else {
			// Text: the API delivers a JSON string's content as it is.
			s, _ := json.Marshal(string(data))
			body.Data = s
		}
	}
	// The data is spliced in by hand: json.Marshal would compact it, and
	// the API delivers its JSON text byte for byte.
	data, body.Data = body.Data, nil
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if data != nil {
		payload = append(append(append(payload[:len(payload)-1], `,"data":`...), data...), '}')
	}

	answer, err := o.invoke(ctx, binding, payload)
	var apiErr *apiError
	if fire && errors.As(err, &apiErr) && apiErr.code == http.StatusBadRequest {
		return usageErrorf("send", "--data is required to create a message: JSON, text, or @file (--data '' sends an empty one)")
	}
	// tether dev's API names its bindings in the answer itself and has no
	// /v1.0/status; a function's API lists them there.
	if errors.As(err, &apiErr) && apiErr.code == http.StatusNotFound && !strings.Contains(apiErr.message, "(bindings: ") {
		u, _ := o.url()
		return fmt.Errorf("%w\nthe function's output bindings are listed at %s://%s/v1.0/status", err, u.Scheme, u.Host)
	}
	if err != nil {
		return err
	}
	var keys []string
	for k := range answer.header {
		if strings.HasPrefix(strings.ToLower(k), "metadata.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(env.Stderr, "%s: %s\n", k, answer.header.Get(k))
	}
	fmt.Fprintf(env.Stderr, "tether: %s: %s\n", binding, answer.status)
	if out := answer.data; len(out) > 0 {
		env.Stdout.Write(out)
		if out[len(out)-1] != '\n' {
			fmt.Fprintln(env.Stdout)
		}
	}
	return nil
}

// sampleOf finds the sample of the input of the function binding triggers:
// tether dev's /v1.0/dev/samples/<binding>, else (a function's own API)
// its /v1.0/status.
func (o sendOptions) sampleOf(ctx context.Context, binding string) (dev.SampleInfo, error) {
	var si dev.SampleInfo
	err := o.get(ctx, binding, "/v1.0/dev/samples/"+url.PathEscape(binding), &si)
	var apiErr *apiError
	if err == nil || !errors.As(err, &apiErr) || apiErr.code != http.StatusNotFound || strings.Contains(apiErr.message, "ERR_NO_SAMPLE") {
		if err != nil {
			return si, fmt.Errorf("--sample: %w", err)
		}
		return si, nil
	}
	var st trigger.Status
	if err := o.get(ctx, binding, "/v1.0/status", &st); err != nil {
		return si, fmt.Errorf("--sample: %w", err)
	}
	for _, f := range st.Functions {
		if f.Trigger.Name == binding && f.Sample != nil {
			return dev.SampleInfo{Function: f.Name, Binding: binding, Sample: *f.Sample}, nil
		}
	}
	return si, fmt.Errorf("--sample: no function of the API at %s is triggered by %s with a sample of its input (regenerate it: tether generate)", o.addr, binding)
}
