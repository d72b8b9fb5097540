package cgroups

// OOMKills is Stats().OOMKills alone, read from one file: what an engine
// asks when a container exits (was it OOM-killed?), where reading every
// counter would cost a few dozen file reads.
func (m *v1) OOMKills() (uint64, error) {
	d := m.paths["memory"]
	if d == "" {
		return 0, nil
	}
	kv, err := optKV(d, "memory.oom_control")
	return kv["oom_kill"], err
}

// OOMKills is Stats().OOMKills alone, from memory.events.
func (m *v2) OOMKills() (uint64, error) {
	kv, err := optKV(m.dir, "memory.events")
	return kv["oom_kill"], err
}
