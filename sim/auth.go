package sim

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"fmt"

	"github.com/xdg-go/scram"
)

// scramIterations is the PBKDF2 iteration count of the stored SCRAM
// credentials (RFC 7677's minimum; Couchbase uses more).
const scramIterations = 4096

// saslMechs is the SASL_LIST_MECHS answer, strongest first, as Couchbase
// sends it.
const saslMechs = "SCRAM-SHA512 SCRAM-SHA256 SCRAM-SHA1 PLAIN"

// authenticator checks the cluster user's credentials over SASL.
type authenticator struct {
	user, password []byte
	scram          map[string]*scram.Server // by Couchbase mechanism name
}

func newAuthenticator(user, password string) (*authenticator, error) {
	a := &authenticator{user: []byte(user), password: []byte(password), scram: make(map[string]*scram.Server)}
	for mech, h := range map[string]scram.HashGeneratorFcn{
		"SCRAM-SHA1": scram.SHA1, "SCRAM-SHA256": scram.SHA256, "SCRAM-SHA512": scram.SHA512,
	} {
		client, err := h.NewClient(user, password, "")
		if err != nil {
			return nil, fmt.Errorf("%w: user/password: %v", ErrBadOptions, err)
		}
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("sim: salt: %w", err)
		}
		creds, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: scramIterations})
		if err != nil {
			return nil, fmt.Errorf("sim: scram credentials: %w", err)
		}
		srv, err := h.NewServer(func(u string) (scram.StoredCredentials, error) {
			if u != user {
				return scram.StoredCredentials{}, fmt.Errorf("sim: unknown user %q", u)
			}
			return creds, nil
		})
		if err != nil {
			return nil, fmt.Errorf("sim: scram server: %w", err)
		}
		a.scram[mech] = srv
	}
	return a, nil
}

// plain checks a PLAIN message: "authzid\x00user\x00password".
func (a *authenticator) plain(msg []byte) bool {
	parts := bytes.SplitN(msg, []byte{0}, 3)
	if len(parts) != 3 {
		return false
	}
	userOK := subtle.ConstantTimeCompare(parts[1], a.user)
	passOK := subtle.ConstantTimeCompare(parts[2], a.password)
	return userOK&passOK == 1 && (len(parts[0]) == 0 || bytes.Equal(parts[0], parts[1]))
}

// checkBasic checks HTTP Basic credentials.
func (a *authenticator) checkBasic(user, password string) bool {
	userOK := subtle.ConstantTimeCompare([]byte(user), a.user)
	passOK := subtle.ConstantTimeCompare([]byte(password), a.password)
	return userOK&passOK == 1
}
