package upstream

import (
	"fmt"
	"strings"
	"sync"

	"github.com/xdg-go/scram"
)

// mechanism is a SASL mechanism the pool can use. hash is nil for PLAIN.
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

// scramClients caches one scram.Client per mechanism for a pool's
// credentials. A Client caches the salted password per (salt, iterations),
// so reconnecting does not recompute PBKDF2.
type scramClients struct {
	mu      sync.Mutex
	clients [len(mechanisms)]*scram.Client
}

func (s *scramClients) get(i int, user, password string) (*scram.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[i]; c != nil {
		return c, nil
	}
	c, err := mechanisms[i].hash.NewClient(user, password, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrAuth, mechanisms[i].name, err)
	}
	s.clients[i] = c
	return c, nil
}
