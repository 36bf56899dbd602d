package sim

import "errors"

// Sentinel errors. Callers check them with errors.Is; they are wrapped with
// context (the node or bucket concerned).
var (
	ErrClosed          = errors.New("sim: cluster closed")
	ErrUnknownNode     = errors.New("sim: node is not part of the cluster")
	ErrUnknownBucket   = errors.New("sim: unknown bucket")
	ErrLastNode        = errors.New("sim: cannot remove the last node")
	ErrRebalanceActive = errors.New("sim: rebalance already running")
	ErrBadOptions      = errors.New("sim: invalid options")

	// Scope and collection changes (wrapped in a *ManifestError).
	ErrUnknownScope      = errors.New("sim: unknown scope")
	ErrUnknownCollection = errors.New("sim: unknown collection")
	ErrExists            = errors.New("sim: scope or collection already exists")
	ErrBadName           = errors.New("sim: invalid scope or collection name")
	ErrNotAllowed        = errors.New("sim: change not allowed on this scope or collection")
	ErrNoCollections     = errors.New("sim: the buckets do not support collections (Options.NoCollections)")
)
