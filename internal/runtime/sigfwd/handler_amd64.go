package sigfwd

// Available reports whether this architecture has the handler.
func Available() bool { return true }

// handlerPC and restorerPC return the entry points of the handler and of
// its sa_restorer (handler_amd64.s), which Go code cannot name directly:
// a Go func value would be an ABI wrapper.
func handlerPC() uintptr
func restorerPC() uintptr
