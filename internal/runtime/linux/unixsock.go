package linux

import "golang.org/x/sys/unix"

// DialUnix connects a stream socket to the unix socket at path and returns
// its descriptor (close-on-exec). It is what the runtime needs of package
// net (console sockets, seccomp agents) without linking it: net's code and
// initialisation would cost every process start of the runtime.
func DialUnix(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// SendFDs writes one message carrying payload and fds (SCM_RIGHTS) on a
// connected unix socket.
func SendFDs(sock int, payload []byte, fds ...int) error {
	for {
		err := unix.Sendmsg(sock, payload, unix.UnixRights(fds...), nil, 0)
		if err != unix.EINTR {
			return err
		}
	}
}
