package archive

import (
	"archive/tar"
	"errors"
	"io"
)

// ShiftTar copies the tar stream src to dst with each entry's owner and
// group mapped by f (a user namespace's IDs to the host's or back); the
// rest of each header and every body are copied as they are.
func ShiftTar(dst io.Writer, src io.Reader, f func(uid, gid int) (int, int)) error {
	tr := tar.NewReader(src)
	tw := tar.NewWriter(dst)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		hdr.Uid, hdr.Gid = f(hdr.Uid, hdr.Gid)
		// Names would say the host's users, not the container's.
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
