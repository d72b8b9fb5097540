//go:build !amd64

package sigfwd

// Available reports whether this architecture has the handler.
func Available() bool { return false }

func handlerPC() uintptr  { panic("sigfwd: no handler") }
func restorerPC() uintptr { panic("sigfwd: no handler") }
