//go:build goexperiment.jsonv2

package spec

import (
	"bytes"
	"encoding/json/jsontext"
	"io"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fastDecode decodes the configurations runtimes usually get without
// reflection: encoding/json analyses each Go type of the spec the first
// time it meets it, ~0.3 ms of every runtime start, more than reading the
// JSON itself. It handles the fields runc, crun, podman, docker and hako's
// engine write, with the exact key spelling; anything else (another key,
// a key twice, null, a number out of range, invalid UTF-8) returns false,
// and Decode falls back to encoding/json, whose result it then is. The
// tests hold the two to the same result.
func fastDecode(data []byte) (*specs.Spec, bool) {
	r := &reader{d: jsontext.NewDecoder(bytes.NewReader(data)), ok: true}
	var s specs.Spec
	r.object(func(k string) {
		switch k {
		case "ociVersion":
			s.Version = r.str()
		case "process":
			s.Process = new(specs.Process)
			r.process(s.Process)
		case "root":
			s.Root = new(specs.Root)
			r.object(func(k string) {
				switch k {
				case "path":
					s.Root.Path = r.str()
				case "readonly":
					s.Root.Readonly = r.boolean()
				default:
					r.ok = false
				}
			})
		case "hostname":
			s.Hostname = r.str()
		case "domainname":
			s.Domainname = r.str()
		case "mounts":
			s.Mounts = []specs.Mount{}
			r.array(func() {
				var m specs.Mount
				r.object(func(k string) {
					switch k {
					case "destination":
						m.Destination = r.str()
					case "type":
						m.Type = r.str()
					case "source":
						m.Source = r.str()
					case "options":
						m.Options = r.strs()
					default:
						r.ok = false
					}
				})
				s.Mounts = append(s.Mounts, m)
			})
		case "hooks":
			s.Hooks = new(specs.Hooks)
			r.hooks(s.Hooks)
		case "annotations":
			s.Annotations = r.strMap()
		case "linux":
			s.Linux = new(specs.Linux)
			r.linux(s.Linux)
		default:
			r.ok = false
		}
	})
	if !r.ok {
		return nil, false
	}
	if _, err := r.d.ReadToken(); err != io.EOF {
		return nil, false // something after the configuration
	}
	return &s, true
}

// fastDecodeProcess is fastDecode for a process.json (runtime exec -p).
func fastDecodeProcess(data []byte) (*specs.Process, bool) {
	r := &reader{d: jsontext.NewDecoder(bytes.NewReader(data)), ok: true}
	var p specs.Process
	r.process(&p)
	if !r.ok {
		return nil, false
	}
	if _, err := r.d.ReadToken(); err != io.EOF {
		return nil, false
	}
	return &p, true
}

// reader reads values for fastDecode; the first thing it cannot take
// clears ok, and everything after is a no-op.
type reader struct {
	d  *jsontext.Decoder
	ok bool
}

func (r *reader) token(want jsontext.Kind) jsontext.Token {
	if !r.ok {
		return jsontext.Token{}
	}
	t, err := r.d.ReadToken()
	if err != nil || t.Kind() != want {
		r.ok = false
	}
	return t
}

// object reads an object, calling field for each key to read its value.
func (r *reader) object(field func(key string)) {
	r.token('{')
	var seen []string
	for r.ok && r.d.PeekKind() != '}' {
		k := r.token('"').String()
		for _, s := range seen {
			if s == k {
				r.ok = false
			}
		}
		seen = append(seen, k)
		if r.ok && r.d.PeekKind() == 'n' {
			r.ok = false // null: encoding/json's rules per type
		}
		if r.ok {
			field(k)
		}
	}
	r.token('}')
}

func (r *reader) array(elem func()) {
	r.token('[')
	for r.ok && r.d.PeekKind() != ']' {
		elem()
	}
	r.token(']')
}

func (r *reader) str() string {
	return r.token('"').String()
}

func (r *reader) boolean() bool {
	if !r.ok {
		return false
	}
	t, err := r.d.ReadToken()
	if err != nil || (t.Kind() != 't' && t.Kind() != 'f') {
		r.ok = false
		return false
	}
	return t.Bool()
}

func (r *reader) strs() []string {
	out := []string{}
	r.array(func() { out = append(out, r.str()) })
	return out
}

func (r *reader) strMap() map[string]string {
	m := map[string]string{}
	r.object(func(k string) { m[k] = r.str() })
	return m
}

// number reads a number's text.
func (r *reader) number() string {
	if !r.ok {
		return ""
	}
	if r.d.PeekKind() != '0' {
		r.ok = false
		return ""
	}
	v, err := r.d.ReadValue()
	if err != nil {
		r.ok = false
		return ""
	}
	return string(v)
}

func (r *reader) i64(bits int) int64 {
	n, err := strconv.ParseInt(r.number(), 10, bits)
	if err != nil {
		r.ok = false
	}
	return n
}

func (r *reader) u64(bits int) uint64 {
	n, err := strconv.ParseUint(r.number(), 10, bits)
	if err != nil {
		r.ok = false
	}
	return n
}

func (r *reader) u32() uint32   { return uint32(r.u64(32)) }
func (r *reader) pi64() *int64  { v := r.i64(64); return &v }
func (r *reader) pu64() *uint64 { v := r.u64(64); return &v }
func (r *reader) pbool() *bool  { v := r.boolean(); return &v }

func (r *reader) process(p *specs.Process) {
	r.object(func(k string) {
		switch k {
		case "terminal":
			p.Terminal = r.boolean()
		case "consoleSize":
			p.ConsoleSize = new(specs.Box)
			r.object(func(k string) {
				switch k {
				case "height":
					p.ConsoleSize.Height = uint(r.u64(strconv.IntSize))
				case "width":
					p.ConsoleSize.Width = uint(r.u64(strconv.IntSize))
				default:
					r.ok = false
				}
			})
		case "user":
			r.object(func(k string) {
				switch k {
				case "uid":
					p.User.UID = r.u32()
				case "gid":
					p.User.GID = r.u32()
				case "umask":
					v := r.u32()
					p.User.Umask = &v
				case "additionalGids":
					p.User.AdditionalGids = []uint32{}
					r.array(func() { p.User.AdditionalGids = append(p.User.AdditionalGids, r.u32()) })
				case "username":
					p.User.Username = r.str()
				default:
					r.ok = false
				}
			})
		case "args":
			p.Args = r.strs()
		case "env":
			p.Env = r.strs()
		case "cwd":
			p.Cwd = r.str()
		case "capabilities":
			c := new(specs.LinuxCapabilities)
			p.Capabilities = c
			r.object(func(k string) {
				switch k {
				case "bounding":
					c.Bounding = r.strs()
				case "effective":
					c.Effective = r.strs()
				case "inheritable":
					c.Inheritable = r.strs()
				case "permitted":
					c.Permitted = r.strs()
				case "ambient":
					c.Ambient = r.strs()
				default:
					r.ok = false
				}
			})
		case "rlimits":
			p.Rlimits = []specs.POSIXRlimit{}
			r.array(func() {
				var l specs.POSIXRlimit
				r.object(func(k string) {
					switch k {
					case "type":
						l.Type = r.str()
					case "hard":
						l.Hard = r.u64(64)
					case "soft":
						l.Soft = r.u64(64)
					default:
						r.ok = false
					}
				})
				p.Rlimits = append(p.Rlimits, l)
			})
		case "noNewPrivileges":
			p.NoNewPrivileges = r.boolean()
		case "apparmorProfile":
			p.ApparmorProfile = r.str()
		case "selinuxLabel":
			p.SelinuxLabel = r.str()
		case "oomScoreAdj":
			v := int(r.i64(strconv.IntSize))
			p.OOMScoreAdj = &v
		default:
			r.ok = false
		}
	})
}

func (r *reader) hooks(h *specs.Hooks) {
	list := func() []specs.Hook {
		out := []specs.Hook{}
		r.array(func() {
			var hk specs.Hook
			r.object(func(k string) {
				switch k {
				case "path":
					hk.Path = r.str()
				case "args":
					hk.Args = r.strs()
				case "env":
					hk.Env = r.strs()
				case "timeout":
					v := int(r.i64(strconv.IntSize))
					hk.Timeout = &v
				default:
					r.ok = false
				}
			})
			out = append(out, hk)
		})
		return out
	}
	r.object(func(k string) {
		switch k {
		case "prestart":
			h.Prestart = list()
		case "createRuntime":
			h.CreateRuntime = list()
		case "createContainer":
			h.CreateContainer = list()
		case "startContainer":
			h.StartContainer = list()
		case "poststart":
			h.Poststart = list()
		case "poststop":
			h.Poststop = list()
		default:
			r.ok = false
		}
	})
}

func (r *reader) idMappings() []specs.LinuxIDMapping {
	out := []specs.LinuxIDMapping{}
	r.array(func() {
		var m specs.LinuxIDMapping
		r.object(func(k string) {
			switch k {
			case "containerID":
				m.ContainerID = r.u32()
			case "hostID":
				m.HostID = r.u32()
			case "size":
				m.Size = r.u32()
			default:
				r.ok = false
			}
		})
		out = append(out, m)
	})
	return out
}

func (r *reader) linux(l *specs.Linux) {
	r.object(func(k string) {
		switch k {
		case "uidMappings":
			l.UIDMappings = r.idMappings()
		case "gidMappings":
			l.GIDMappings = r.idMappings()
		case "sysctl":
			l.Sysctl = r.strMap()
		case "resources":
			l.Resources = new(specs.LinuxResources)
			r.resources(l.Resources)
		case "cgroupsPath":
			l.CgroupsPath = r.str()
		case "namespaces":
			l.Namespaces = []specs.LinuxNamespace{}
			r.array(func() {
				var ns specs.LinuxNamespace
				r.object(func(k string) {
					switch k {
					case "type":
						ns.Type = specs.LinuxNamespaceType(r.str())
					case "path":
						ns.Path = r.str()
					default:
						r.ok = false
					}
				})
				l.Namespaces = append(l.Namespaces, ns)
			})
		case "devices":
			l.Devices = []specs.LinuxDevice{}
			r.array(func() {
				var d specs.LinuxDevice
				r.object(func(k string) {
					switch k {
					case "path":
						d.Path = r.str()
					case "type":
						d.Type = r.str()
					case "major":
						d.Major = r.i64(64)
					case "minor":
						d.Minor = r.i64(64)
					case "fileMode":
						m := os.FileMode(r.u32())
						d.FileMode = &m
					case "uid":
						v := r.u32()
						d.UID = &v
					case "gid":
						v := r.u32()
						d.GID = &v
					default:
						r.ok = false
					}
				})
				l.Devices = append(l.Devices, d)
			})
		case "seccomp":
			l.Seccomp = new(specs.LinuxSeccomp)
			r.seccomp(l.Seccomp)
		case "rootfsPropagation":
			l.RootfsPropagation = r.str()
		case "maskedPaths":
			l.MaskedPaths = r.strs()
		case "readonlyPaths":
			l.ReadonlyPaths = r.strs()
		case "mountLabel":
			l.MountLabel = r.str()
		default:
			r.ok = false
		}
	})
}

func (r *reader) resources(res *specs.LinuxResources) {
	r.object(func(k string) {
		switch k {
		case "devices":
			res.Devices = []specs.LinuxDeviceCgroup{}
			r.array(func() {
				var d specs.LinuxDeviceCgroup
				r.object(func(k string) {
					switch k {
					case "allow":
						d.Allow = r.boolean()
					case "type":
						d.Type = r.str()
					case "major":
						d.Major = r.pi64()
					case "minor":
						d.Minor = r.pi64()
					case "access":
						d.Access = r.str()
					default:
						r.ok = false
					}
				})
				res.Devices = append(res.Devices, d)
			})
		case "memory":
			m := new(specs.LinuxMemory)
			res.Memory = m
			r.object(func(k string) {
				switch k {
				case "limit":
					m.Limit = r.pi64()
				case "reservation":
					m.Reservation = r.pi64()
				case "swap":
					m.Swap = r.pi64()
				case "kernel":
					m.Kernel = r.pi64()
				case "kernelTCP":
					m.KernelTCP = r.pi64()
				case "swappiness":
					m.Swappiness = r.pu64()
				case "disableOOMKiller":
					m.DisableOOMKiller = r.pbool()
				case "useHierarchy":
					m.UseHierarchy = r.pbool()
				case "checkBeforeUpdate":
					m.CheckBeforeUpdate = r.pbool()
				default:
					r.ok = false
				}
			})
		case "cpu":
			c := new(specs.LinuxCPU)
			res.CPU = c
			r.object(func(k string) {
				switch k {
				case "shares":
					c.Shares = r.pu64()
				case "quota":
					c.Quota = r.pi64()
				case "burst":
					c.Burst = r.pu64()
				case "period":
					c.Period = r.pu64()
				case "realtimeRuntime":
					c.RealtimeRuntime = r.pi64()
				case "realtimePeriod":
					c.RealtimePeriod = r.pu64()
				case "cpus":
					c.Cpus = r.str()
				case "mems":
					c.Mems = r.str()
				case "idle":
					c.Idle = r.pi64()
				default:
					r.ok = false
				}
			})
		case "pids":
			res.Pids = new(specs.LinuxPids)
			r.object(func(k string) {
				if k == "limit" {
					res.Pids.Limit = r.pi64()
				} else {
					r.ok = false
				}
			})
		default:
			r.ok = false
		}
	})
}

func (r *reader) seccomp(sc *specs.LinuxSeccomp) {
	r.object(func(k string) {
		switch k {
		case "defaultAction":
			sc.DefaultAction = specs.LinuxSeccompAction(r.str())
		case "defaultErrnoRet":
			v := uint(r.u64(strconv.IntSize))
			sc.DefaultErrnoRet = &v
		case "architectures":
			sc.Architectures = []specs.Arch{}
			r.array(func() { sc.Architectures = append(sc.Architectures, specs.Arch(r.str())) })
		case "flags":
			sc.Flags = []specs.LinuxSeccompFlag{}
			r.array(func() { sc.Flags = append(sc.Flags, specs.LinuxSeccompFlag(r.str())) })
		case "listenerPath":
			sc.ListenerPath = r.str()
		case "listenerMetadata":
			sc.ListenerMetadata = r.str()
		case "syscalls":
			sc.Syscalls = []specs.LinuxSyscall{}
			r.array(func() {
				var c specs.LinuxSyscall
				r.object(func(k string) {
					switch k {
					case "names":
						c.Names = r.strs()
					case "action":
						c.Action = specs.LinuxSeccompAction(r.str())
					case "errnoRet":
						v := uint(r.u64(strconv.IntSize))
						c.ErrnoRet = &v
					case "args":
						c.Args = []specs.LinuxSeccompArg{}
						r.array(func() {
							var a specs.LinuxSeccompArg
							r.object(func(k string) {
								switch k {
								case "index":
									a.Index = uint(r.u64(strconv.IntSize))
								case "value":
									a.Value = r.u64(64)
								case "valueTwo":
									a.ValueTwo = r.u64(64)
								case "op":
									a.Op = specs.LinuxSeccompOperator(r.str())
								default:
									r.ok = false
								}
							})
							c.Args = append(c.Args, a)
						})
					default:
						r.ok = false
					}
				})
				sc.Syscalls = append(sc.Syscalls, c)
			})
		default:
			r.ok = false
		}
	})
}
