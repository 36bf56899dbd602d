package memcached

import (
	"fmt"

	gm "github.com/couchbase/gomemcached"
)

// Status is a response status code.
type Status uint16

// Status codes. Values come from gomemcached where it defines them.
const (
	StatusSuccess               = Status(gm.SUCCESS)
	StatusKeyENOENT             = Status(gm.KEY_ENOENT)
	StatusKeyEEXISTS            = Status(gm.KEY_EEXISTS)
	StatusE2BIG          Status = 0x03
	StatusEINVAL                = Status(gm.EINVAL)
	StatusNotStored             = Status(gm.NOT_STORED)
	StatusDeltaBadval           = Status(gm.DELTA_BADVAL)
	StatusNotMyVBucket          = Status(gm.NOT_MY_VBUCKET)
	StatusNoBucket              = Status(gm.NO_BUCKET)
	StatusLocked                = Status(gm.LOCKED)
	StatusConfigOnly            = Status(gm.CONFIG_ONLY)
	StatusAuthStale             = Status(gm.AUTH_STALE)
	StatusAuthError             = Status(gm.AUTH_ERROR)
	StatusAuthContinue          = Status(gm.AUTH_CONTINUE)
	StatusERange                = Status(gm.ERANGE)
	StatusEAccess               = Status(gm.EACCESS)
	StatusNotInitialized        = Status(gm.NOT_INITIALIZED)
	StatusUnknownCommand        = Status(gm.UNKNOWN_COMMAND)
	StatusENOMEM                = Status(gm.ENOMEM)
	StatusNotSupported          = Status(gm.NOT_SUPPORTED)
	StatusEINTERNAL             = Status(gm.EINTERNAL)
	StatusEBUSY                 = Status(gm.EBUSY)
	StatusETMPFAIL              = Status(gm.TMPFAIL)
	// Collections (Couchbase 7): the key's collection (or scope) is not in
	// the bucket's manifest.
	StatusUnknownCollection Status = 0x88
	StatusUnknownScope      Status = 0x8c
)

var statusNames = map[Status]string{
	StatusSuccess:           "SUCCESS",
	StatusKeyENOENT:         "KEY_ENOENT",
	StatusKeyEEXISTS:        "KEY_EEXISTS",
	StatusE2BIG:             "E2BIG",
	StatusEINVAL:            "EINVAL",
	StatusNotStored:         "NOT_STORED",
	StatusDeltaBadval:       "DELTA_BADVAL",
	StatusNotMyVBucket:      "NOT_MY_VBUCKET",
	StatusNoBucket:          "NO_BUCKET",
	StatusLocked:            "LOCKED",
	StatusConfigOnly:        "CONFIG_ONLY",
	StatusAuthStale:         "AUTH_STALE",
	StatusAuthError:         "AUTH_ERROR",
	StatusAuthContinue:      "AUTH_CONTINUE",
	StatusERange:            "ERANGE",
	StatusEAccess:           "EACCESS",
	StatusNotInitialized:    "NOT_INITIALIZED",
	StatusUnknownCommand:    "UNKNOWN_COMMAND",
	StatusENOMEM:            "ENOMEM",
	StatusNotSupported:      "NOT_SUPPORTED",
	StatusEINTERNAL:         "EINTERNAL",
	StatusEBUSY:             "EBUSY",
	StatusETMPFAIL:          "ETMPFAIL",
	StatusUnknownCollection: "UNKNOWN_COLLECTION",
	StatusUnknownScope:      "UNKNOWN_SCOPE",
}

// String returns the status name ("NOT_MY_VBUCKET"), or "0x%04x" for a code
// not in the table.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("0x%04x", uint16(s))
}

// Known reports whether s is in the status table. Metrics use it to keep
// label sets bounded.
func (s Status) Known() bool {
	_, ok := statusNames[s]
	return ok
}

// Retryable reports whether the status means "try again later" (EBUSY,
// ETMPFAIL).
func (s Status) Retryable() bool { return s == StatusEBUSY || s == StatusETMPFAIL }
