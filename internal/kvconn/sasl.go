package kvconn

import (
	"fmt"
	"strings"
	"sync"

	"github.com/xdg-go/scram"
)

// mechanism is a SASL mechanism Dial can use. hash is nil for PLAIN.
type mechanism struct {
	name string
	hash scram.HashGeneratorFcn
}

// mechanisms in order of preference, as the Couchbase SDKs order them.
var mechanisms = [...]mechanism{
	{"SCRAM-SHA512", scram.SHA512},
	{"SCRAM-SHA256", scram.SHA256},
	{"SCRAM-SHA1", scram.SHA1},
	{"PLAIN", nil},
}

// chooseMechanism returns the index in mechanisms of the most preferred
// mechanism in the server's space-separated list, or -1 when none is known.
// preferPlain (over TLS, as the SDKs do) puts PLAIN first.
func chooseMechanism(list string, preferPlain bool) int {
	best := -1
	for _, name := range strings.Fields(list) {
		for i := range mechanisms {
			if mechanisms[i].name != name {
				continue
			}
			if preferPlain && mechanisms[i].hash == nil {
				return i
			}
			if best < 0 || i < best {
				best = i
			}
		}
	}
	return best
}

// plainPayload is the SASL PLAIN message: authzid (empty), user, password.
func plainPayload(user, password string) []byte {
	b := make([]byte, 0, 2+len(user)+len(password))
	b = append(b, 0)
	b = append(b, user...)
	b = append(b, 0)
	return append(b, password...)
}

// SCRAMCache keeps one scram.Client per mechanism, so that reconnecting
// with the same credentials does not recompute PBKDF2 (a Client caches the
// salted password per salt and iteration count). The zero value is ready;
// it is safe for concurrent use. Share one cache among the connections of
// one set of credentials; a dial with other credentials replaces the
// cached client.
type SCRAMCache struct {
	mu      sync.Mutex
	clients [len(mechanisms)]cachedClient
}

type cachedClient struct {
	user, password string
	c              *scram.Client
}

func (s *SCRAMCache) get(i int, user, password string) (*scram.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cc := s.clients[i]; cc.c != nil && cc.user == user && cc.password == password {
		return cc.c, nil
	}
	c, err := mechanisms[i].hash.NewClient(user, password, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrAuth, mechanisms[i].name, err)
	}
	s.clients[i] = cachedClient{user: user, password: password, c: c}
	return c, nil
}
