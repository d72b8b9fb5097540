package cli

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Registry credentials live in docker's config.json ($DOCKER_CONFIG, else
// ~/.docker), so hako and docker share logins. Only the "auths" map is
// read and written; other keys are kept as they are. Credential helpers
// (credsStore, credHelpers) are not supported yet.

// dockerHub is the key docker uses for Docker Hub in "auths".
const dockerHub = "https://index.docker.io/v1/"

func configPath() string {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "/root"
		}
		dir = filepath.Join(home, ".docker")
	}
	return filepath.Join(dir, "config.json")
}

// authConfig is one entry of "auths".
type authConfig struct {
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// loadConfig returns the whole file (to write back unknown keys) and its
// auths.
func loadConfig() (map[string]json.RawMessage, map[string]authConfig, error) {
	all := map[string]json.RawMessage{}
	auths := map[string]authConfig{}
	b, err := os.ReadFile(configPath())
	if errors.Is(err, os.ErrNotExist) {
		return all, auths, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", configPath(), err)
	}
	if raw, ok := all["auths"]; ok {
		if err := json.Unmarshal(raw, &auths); err != nil {
			return nil, nil, fmt.Errorf("%s: auths: %w", configPath(), err)
		}
	}
	return all, auths, nil
}

// saveAuths writes auths back, atomically and readable by the owner only.
func saveAuths(all map[string]json.RawMessage, auths map[string]authConfig) error {
	raw, err := json.Marshal(auths)
	if err != nil {
		return err
	}
	all["auths"] = raw
	b, err := json.MarshalIndent(all, "", "\t")
	if err != nil {
		return err
	}
	p := configPath()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".config.json.tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// registryKey is the "auths" key for a registry host, as docker writes it.
func registryKey(host string) string {
	h := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://"), "/")
	switch h {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io", "index.docker.io/v1":
		return dockerHub
	}
	return h
}

// keychain resolves credentials from config.json for go-containerregistry.
type keychain struct{}

func (keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	_, auths, err := loadConfig()
	if err != nil {
		return nil, err
	}
	a, ok := auths[registryKey(r.RegistryStr())]
	if !ok {
		// docker also accepts a key written with a scheme.
		for k, v := range auths {
			if registryKey(k) == registryKey(r.RegistryStr()) {
				a, ok = v, true
				break
			}
		}
	}
	if !ok {
		return authn.Anonymous, nil
	}
	if a.IdentityToken != "" {
		return &authn.Bearer{Token: a.IdentityToken}, nil
	}
	dec, err := base64.StdEncoding.DecodeString(a.Auth)
	if err != nil {
		return nil, fmt.Errorf("%s: credentials for %s are not base64: %w", configPath(), r.RegistryStr(), err)
	}
	user, pass, _ := strings.Cut(string(dec), ":")
	return &authn.Basic{Username: user, Password: pass}, nil
}
