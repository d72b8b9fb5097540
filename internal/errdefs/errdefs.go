// Package errdefs defines the few error categories hako's packages share.
//
// A package wraps one of these sentinels with its own context at the point
// where the category becomes known:
//
//	fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
//
// and each protocol edge (the Engine API, the CRI, the runtime CLI's exit
// codes) maps categories to its own status codes in exactly one place.
package errdefs

import "errors"

var (
	// ErrNotFound: the named object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidArgument: the request or configuration is malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrAlreadyExists: an object with that name or ID already exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the object is in a state that forbids the operation.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: a needed service or resource cannot be reached.
	ErrUnavailable = errors.New("unavailable")
	// ErrNotImplemented: the feature is not supported here.
	ErrNotImplemented = errors.New("not implemented")
	// ErrPermissionDenied: the caller or the kernel refused the operation.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrNotModified: the object is already in the requested state
	// (starting a running container); not a failure.
	ErrNotModified = errors.New("not modified")
)

// IsNotFound reports whether err is in the NotFound category.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsInvalidArgument reports whether err is in the InvalidArgument category.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }

// IsAlreadyExists reports whether err is in the AlreadyExists category.
func IsAlreadyExists(err error) bool { return errors.Is(err, ErrAlreadyExists) }

// IsConflict reports whether err is in the Conflict category.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsNotImplemented reports whether err is in the NotImplemented category.
func IsNotImplemented(err error) bool { return errors.Is(err, ErrNotImplemented) }

// IsPermissionDenied reports whether err is in the PermissionDenied category.
func IsPermissionDenied(err error) bool { return errors.Is(err, ErrPermissionDenied) }

// IsUnavailable reports whether err is in the Unavailable category.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
