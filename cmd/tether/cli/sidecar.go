package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/tetherfn/tether/internal/sidecar"
)

func init() { register(newSidecarCommand) }

func newSidecarCommand(env *Env) *cobra.Command {
	var o *sidecar.Options
	cmd := &cobra.Command{
		Use:   "sidecar",
		Short: "Run the bindings runtime beside an app in any language, in place of daprd",
		Long: `sidecar is the runtime alone, with every binding driver, for an app written in
any language: a drop-in for daprd wherever the app uses bindings. It takes
daprd's flag names and environment variables (DAPR_API_TOKEN, APP_API_TOKEN,
DAPR_HTTP_PORT, NAMESPACE, POD_NAME), reads the component files of
--resources-path, serves Dapr's HTTP API for bindings (/v1.0/bindings,
/v1.0/metadata, /v1.0/healthz, /v1.0/shutdown) and delivers input bindings to
the app at --app-port as daprd does.

Unlike daprd, the API listens on loopback only unless DAPR_API_TOKEN is set:
--dapr-listen-addresses beyond loopback needs the token. daprd flags that
sidecar does not implement are refused by name, never ignored.`,
		Example: `  tether sidecar --app-id orders --app-port 3000 --resources-path ./components
  DAPR_API_TOKEN=s3cret tether sidecar --app-id orders --dapr-listen-addresses 0.0.0.0 --resources-path /components`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := o.Run(cmd.Context(), cmd.Flags())
			var usage *sidecar.UsageError
			if errors.As(err, &usage) {
				return &ExitError{Code: 2, Err: usageErrorf("sidecar", "%s", usage.Msg)}
			}
			return err
		},
	}
	withUsageHint(cmd)
	o = sidecar.Flags(cmd.Flags())
	return cmd
}
