package proxy

import (
	"fmt"
	"net"
	"sync/atomic"

	"github.com/vbproxy/vbproxy/proxy/edge"
)

// Listener is what one listener of a Server serves. Listeners of one
// Server share its event loops and upstream connections: several listeners
// can serve several collections of one bucket over the same connections.
// Serve uses the Listener that the Server's Options describe.
type Listener struct {
	// Name identifies the listener for SetUsers (a config's address).
	Name string
	// Protocols restricts the client protocols (ProtocolsBoth by default).
	Protocols Protocols
	// Edge admits connections (PROXY header, TLS); nil = plain TCP.
	Edge *edge.Edge
	// AllowFlush lets FLUSH (flush_all) through to every node.
	AllowFlush bool
	// Users are the client users (SASL PLAIN, text authentication); empty
	// means no authentication is required.
	Users map[string]string
	// ReadReplicas lets replicas answer reads whose active failed.
	ReadReplicas ReplicaPolicy
	// Collection is "scope.collection" for a Couchbase 7 bucket's named
	// collection; "" (or "_default._default") is the default collection.
	// A named collection needs Options.Collections.
	Collection string

	fromOptions bool // built by Serve from Options: its users follow Reconfigure
}

// listener is a Listener being served.
type listener struct {
	Listener
	coll     *collection // nil for the default collection
	usersNow atomic.Pointer[map[string]string]
	ownUsers bool // Users given to ServeListener: Reconfigure leaves them
}

// users returns the listener's current users (SetUsers, Reconfigure).
func (l *listener) users() map[string]string { return *l.usersNow.Load() }

func (l *listener) setUsers(u map[string]string) { l.usersNow.Store(&u) }

// listener is the Listener Serve uses: the one Options describe.
func (o *Options) listener() Listener {
	return Listener{
		fromOptions: true,
		Protocols:   o.Protocols, Edge: o.Edge, AllowFlush: o.AllowFlush, Users: o.Users,
		ReadReplicas: o.ReadReplicas, Collection: o.Collection,
	}
}

// Serve accepts client connections on ln for the listener the Server's
// Options describe. See ServeListener.
func (s *Server) Serve(ln net.Listener) error { return s.ServeListener(ln, s.o.listener()) }

// newListener checks l and starts its collection's resolution.
func (s *Server) newListener(l Listener) (*listener, error) {
	for name := range l.Users {
		if name == "" {
			return nil, fmt.Errorf("%w: Users has an empty user name", ErrInvalidOptions)
		}
	}
	lst := &listener{Listener: l, ownUsers: !l.fromOptions}
	lst.setUsers(l.Users)
	path, err := collectionPath(l.Collection)
	if err != nil {
		return nil, err
	}
	if path != "" {
		if !s.o.Collections {
			return nil, fmt.Errorf("%w: collection %q needs Options.Collections", ErrInvalidOptions, l.Collection)
		}
		lst.coll = s.collection(path)
	}
	return lst, nil
}
