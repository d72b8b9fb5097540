package cli

import "github.com/spf13/cobra"

// newVolume is `hako volume VERB`, docker's volume management command;
// each verb is in its own volume_VERB.go.
func newVolume(c *CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "manage volumes", Args: cobra.NoArgs}
	cmd.AddCommand(newVolumeCreate(c), newVolumeLs(c), newVolumeInspect(c), newVolumeRm(c), newVolumePrune(c))
	return cmd
}
