package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
)

func newManifest(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "manifest",
		Short: "inspect image manifests and manifest lists in registries",
	}
	var insecure bool
	inspect := &cobra.Command{
		Use:   "inspect [OPTIONS] REF",
		Short: "print the raw manifest or manifest list (index) of an image in its registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			var opts []name.Option
			if insecure {
				opts = append(opts, name.Insecure)
			}
			ref, err := name.ParseReference(args[0], opts...)
			if err != nil {
				return fmt.Errorf("invalid reference %q: %w", args[0], err)
			}
			desc, err := remote.Get(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain{}))
			if err != nil {
				return fmt.Errorf("manifest of %s: %w", ref, err)
			}
			var out bytes.Buffer
			if err := json.Indent(&out, desc.Manifest, "", "   "); err != nil {
				_, err = c.Out.Write(desc.Manifest)
				return err
			}
			out.WriteByte('\n')
			_, err = c.Out.Write(out.Bytes())
			return err
		},
	}
	inspect.Flags().BoolVar(&insecure, "insecure", false, "allow plain HTTP (registries on loopback and private addresses use it anyway)")
	cmd.AddCommand(inspect)
	return cmd
}
