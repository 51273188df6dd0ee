package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// usageError is a wrong use of cmd, with where to read how to use it.
func usageError(cmd *cobra.Command, msg string) error {
	return fmt.Errorf("%s: %s\nsee: %s --help", cmd.CommandPath(), msg, cmd.CommandPath())
}

// withUsageHint makes flag errors of cmd (unknown flag, bad value) say
// where to read about its flags.
func withUsageHint(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError(c, err.Error())
	})
}
