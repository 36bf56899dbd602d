package kvconn

import "errors"

// Sentinel errors. Dial wraps them with the node address and the step that
// failed; test for them with errors.Is.
var (
	// ErrAuth: the node refused the credentials or the bucket (AUTH_ERROR,
	// EACCESS, no common SASL mechanism, a server signature that does not
	// verify, or an unknown bucket, which also matches ErrNoBucket).
	ErrAuth = errors.New("kvconn: authentication failed")
	// ErrNoBucket: SELECT_BUCKET answered KEY_ENOENT: the node has no such
	// bucket. Errors that match it also match ErrAuth.
	ErrNoBucket = errors.New("kvconn: unknown bucket")
	// ErrTLS: the TLS handshake failed (untrusted certificate, name
	// mismatch, expired, not a TLS port); the crypto error stays in the
	// chain (tlsconf.DescribeTLSError turns it into a short reason).
	ErrTLS = errors.New("kvconn: TLS handshake failed")
	// ErrProtocol: the node answered the handshake with something that is
	// not a valid reply to what was asked.
	ErrProtocol = errors.New("kvconn: protocol error")
)

// bucketError is an unknown bucket: it matches ErrNoBucket and ErrAuth
// (a refused bucket is an authentication failure to callers that do not
// tell the two apart).
type bucketError struct{ msg string }

func (e *bucketError) Error() string { return ErrAuth.Error() + ": " + e.msg }

func (e *bucketError) Is(target error) bool { return target == ErrAuth || target == ErrNoBucket }
