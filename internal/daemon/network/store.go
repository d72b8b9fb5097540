package network

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hako-dev/hako/internal/atomicfile"
	"github.com/hako-dev/hako/internal/errdefs"
)

// Drivers.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// Network is one network's record (ROOT/networks/<id>.json).
type Network struct {
	ID         string
	Name       string
	Driver     string
	Created    time.Time
	Internal   bool              `json:",omitempty"`
	Attachable bool              `json:",omitempty"`
	Labels     map[string]string `json:",omitempty"`
	Options    map[string]string `json:",omitempty"`
	// Bridge networks only.
	Subnet  netip.Prefix `json:",omitzero"`
	Gateway netip.Addr   `json:",omitzero"`
	// IPRange: where containers' addresses are allocated (--ip-range).
	IPRange netip.Prefix `json:",omitzero"`
	// AuxAddresses: addresses no container gets (--aux-address).
	AuxAddresses map[string]netip.Addr `json:",omitempty"`
	// UserSubnet: the subnet was given at create (IPAM.Config), so
	// --ip is allowed, as docker.
	UserSubnet bool `json:",omitempty"`
	// EnableIPv6: the network is dual-stack, with Subnet6 (a /64 or
	// larger; given at create, UserSubnet6, or a random unique local one)
	// and Gateway6 on the bridge; IPRange6 as IPRange.
	EnableIPv6  bool         `json:",omitempty"`
	Subnet6     netip.Prefix `json:",omitzero"`
	Gateway6    netip.Addr   `json:",omitzero"`
	IPRange6    netip.Prefix `json:",omitzero"`
	UserSubnet6 bool         `json:",omitempty"`
	Bridge      string       `json:",omitempty"` // the interface
	// Default marks the predefined "bridge" network.
	Default bool `json:",omitempty"`
}

// Predefined reports whether n is one of bridge, host, none.
func (n *Network) Predefined() bool {
	return n.Default || n.Driver == DriverHost || n.Driver == DriverNull
}

// UserDefined reports whether n has an embedded DNS server and takes
// aliases: a bridge network other than the default one.
func (n *Network) UserDefined() bool { return n.Driver == DriverBridge && !n.Default }

// Store holds the network records.
type Store struct {
	dir    string
	mu     sync.RWMutex
	byID   map[string]*Network
	byName map[string]string
}

// OpenStore loads the records under dir.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Store{dir: dir, byID: map[string]*Network{}, byName: map[string]string{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		n := &Network{}
		if err := json.Unmarshal(b, n); err != nil || n.ID != id {
			return nil, fmt.Errorf("network record %s is damaged: %v", e.Name(), err)
		}
		s.byID[n.ID] = n
		s.byName[n.Name] = n.ID
	}
	return s, nil
}

// NewID returns a fresh network ID (64 hex digits, never all digits in
// its short form).
func NewID() string {
	for {
		var b [32]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		if strings.Trim(id[:12], "0123456789") != "" {
			return id
		}
	}
}

// Put saves n (atomically) and indexes it.
func (s *Store) Put(n *Network) error {
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.byName[n.Name]; ok && other != n.ID {
		return fmt.Errorf("network with name %s already exists: %w", n.Name, errdefs.ErrConflict)
	}
	if err := atomicfile.Write(filepath.Join(s.dir, n.ID+".json"), b, 0o600); err != nil {
		return fmt.Errorf("save network %s: %w", n.Name, err)
	}
	s.byID[n.ID] = n
	s.byName[n.Name] = n.ID
	return nil
}

// Delete removes n's record.
func (s *Store) Delete(n *Network) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(filepath.Join(s.dir, n.ID+".json")); err != nil && !os.IsNotExist(err) {
		return err
	}
	delete(s.byID, n.ID)
	if s.byName[n.Name] == n.ID {
		delete(s.byName, n.Name)
	}
	return nil
}

// Get finds a network as docker does: full ID, then exact name, then
// unique ID prefix.
func (s *Store) Get(ref string) (*Network, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if n, ok := s.byID[ref]; ok {
		return n, nil
	}
	if id, ok := s.byName[ref]; ok {
		return s.byID[id], nil
	}
	var found *Network
	matches := 0
	if ref != "" {
		for id, n := range s.byID {
			if strings.HasPrefix(id, ref) {
				found = n
				matches++
			}
		}
	}
	if matches > 1 {
		return nil, fmt.Errorf("network %s is ambiguous (%d matches found based on ID prefix): %w", ref, matches, errdefs.ErrInvalidArgument)
	}
	if found == nil {
		return nil, fmt.Errorf("network %s not found: %w", ref, errdefs.ErrNotFound)
	}
	return found, nil
}

// List returns every network, by name.
func (s *Store) List() []*Network {
	s.mu.RLock()
	out := make([]*Network, 0, len(s.byID))
	for _, n := range s.byID {
		out = append(out, n)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
