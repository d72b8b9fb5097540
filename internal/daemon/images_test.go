package daemon

import "testing"

func TestInsecureRegistries(t *testing.T) {
	d := &Daemon{cfg: Config{InsecureRegistries: []string{"reg.lan:5000", "10.9.0.0/16", "plain.example"}}}
	for host, want := range map[string]bool{
		"reg.lan:5000": true, "reg.lan:6000": false, "10.9.3.4:5000": true, "10.8.0.1": false,
		"plain.example": true, "plain.example:443": true, "docker.io": false,
	} {
		if got := d.insecure(host); got != want {
			t.Errorf("%s: %v", host, got)
		}
	}
}
