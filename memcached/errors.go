package memcached

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by ProtocolError; check them with errors.Is.
var (
	ErrBadMagic   = errors.New("memcached: bad magic byte")
	ErrBadLengths = errors.New("memcached: header lengths contradict each other")
	ErrTooLarge   = errors.New("memcached: body too large")
	ErrKeyTooLong = errors.New("memcached: key too long")
)

// ProtocolError is a request or response the Reader refused.
//
// When Recoverable is true the offending body was skipped and the next packet
// can be read: answer the request with Status (E2BIG, EINVAL) and go on.
// Otherwise the stream cannot be resynchronised and must be closed.
type ProtocolError struct {
	Header      Header // the offending header, as decoded
	Status      Status // the status to answer with, when Recoverable
	Reason      string // what was wrong, for logs
	Recoverable bool
	Err         error // one of the sentinel errors above
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("%v: %s (opcode %s)", e.Err, e.Reason, e.Header.Opcode)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// IsRecoverable reports whether err is a ProtocolError after which the stream
// can continue.
func IsRecoverable(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe) && pe.Recoverable
}
