package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/spf13/cobra"
)

func newLogin(c *CLI) *cobra.Command {
	var user, pass string
	var passStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "log in to a registry (credentials are kept in docker's config.json)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			if passStdin {
				if pass != "" {
					return fmt.Errorf("--password and --password-stdin are mutually exclusive")
				}
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				pass = strings.TrimRight(string(b), "\r\n")
			}
			if user == "" {
				fmt.Fprint(c.Out, "Username: ")
				line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				user = strings.TrimSpace(line)
			}
			if user == "" || pass == "" {
				return fmt.Errorf("login needs a username and a password (-u, and -p or --password-stdin)")
			}
			if pass != "" && !passStdin {
				fmt.Fprintln(c.Err, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if err := checkLogin(ctx, server, user, pass); err != nil {
				return err
			}
			all, auths, err := loadConfig()
			if err != nil {
				return err
			}
			auths[registryKey(server)] = authConfig{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
			if err := saveAuths(all, auths); err != nil {
				return fmt.Errorf("save credentials: %w", err)
			}
			fmt.Fprintln(c.Out, "Login Succeeded")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&user, "username", "u", "", "username")
	f.StringVarP(&pass, "password", "p", "", "password")
	f.BoolVar(&passStdin, "password-stdin", false, "read the password from stdin")
	return cmd
}

// checkLogin authenticates against the registry's /v2/ endpoint, with a
// token exchange where the registry asks for one.
func checkLogin(ctx context.Context, server, user, pass string) error {
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"), "/")
	if registryKey(server) == dockerHub {
		host = name.DefaultRegistry
	}
	reg, err := name.NewRegistry(host)
	if err != nil {
		return fmt.Errorf("registry %q: %w", server, err)
	}
	tr, err := transport.NewWithContext(ctx, reg, &authn.Basic{Username: user, Password: pass}, http.DefaultTransport, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return fmt.Errorf("login to %s: %w", host, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("login to %s: %w", host, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("login to %s: unauthorized: incorrect username or password", host)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("login to %s: %s", host, resp.Status)
	}
	return nil
}

func newLogout(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "log out from a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			all, auths, err := loadConfig()
			if err != nil {
				return err
			}
			key := registryKey(server)
			found := false
			for k := range auths {
				if registryKey(k) == key {
					delete(auths, k)
					found = true
				}
			}
			if !found {
				fmt.Fprintf(c.Out, "Not logged in to %s\n", key)
				return nil
			}
			if err := saveAuths(all, auths); err != nil {
				return err
			}
			fmt.Fprintf(c.Out, "Removing login credentials for %s\n", key)
			return nil
		},
	}
}
