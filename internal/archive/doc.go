// Package archive applies OCI image layers onto a directory.
//
// # Format
//
// A layer (image-spec layer.md) is a tar stream, plain or compressed with
// gzip or zstd; Decompress tells which by its magic bytes. Each entry is a
// regular file, directory, symlink, hardlink, character or block device or
// fifo, with owner, mode (setuid, setgid and sticky bits included), times
// and extended attributes (PAX records SCHILY.xattr.NAME). Entries named
// ".wh.NAME" are whiteouts: NAME is deleted from the layers below. An entry
// ".wh..wh..opq" makes its directory opaque: everything the layers below
// put in it is hidden. Whiteouts hide lower content only — never what the
// same layer adds, whatever the order of the entries — and Apply carries
// them out either directly on a directory holding the lower layers (vfs) or
// as overlayfs whiteouts in a layer's own directory (see WhiteoutMode).
// Directories' times are set once everything inside them is written.
//
// # Threat model
//
// A layer comes from a registry and is hostile until proven otherwise (its
// digest says only that it is the layer the manifest named). Apply
// guarantees that nothing outside the target directory is created,
// written, removed or has its metadata changed, whatever the stream holds:
//
//   - Names are made relative (a leading "/" is dropped, as docker does) and
//     cleaned lexically; one whose ".." climbs above the top is refused.
//   - Every operation works on one last name component, relative to a
//     directory fd, and never follows it (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW,
//     O_EXCL on create); an existing non-directory entry is removed and
//     replaced, as a later layer replaces it.
//   - The directory fd is opened with openat2(RESOLVE_BENEATH|
//     RESOLVE_NO_MAGICLINKS) (or os.Root's O_NOFOLLOW walk on kernels before
//     5.6). Symlinks on the way — from a lower layer or earlier in the same
//     one — are followed only while they stay inside: a relative symlink
//     that climbs out, any absolute symlink and any /proc magic link make
//     the entry fail. (Docker and containerd instead resolve an absolute
//     symlink as if the target directory were "/". Layers written by image
//     builders never write through a symlink, so refusing costs nothing in
//     practice and leaves no doubt; a symlink is still created with
//     whatever target the layer gives, since it is data until followed.)
//   - A hardlink's target is an entry name, resolved by the same rules; it
//     must already exist inside the directory.
//   - Device nodes can be refused (ApplyOptions.NoDevices); overlayfs
//     attributes (trusted.overlay.*, user.overlay.*) are never taken from a
//     layer, so a layer cannot forge redirects or metacopy files; sparse
//     files are written with holes.
//
// Refusals wrap ErrUnsafePath and, like every other sign of a malformed or
// truncated layer, errdefs.ErrInvalidArgument. Apply does not defend
// against a concurrent writer in the target directory, nor bound the size
// or count of what a layer unpacks to (a digest-verified blob is the only
// input; callers bound time through the context).
package archive
