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
)
