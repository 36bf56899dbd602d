package edge

import (
	"crypto/x509"
	"fmt"
	"strings"
)

// certRule is a checked CertUser.
type certRule struct {
	field, value, user string
}

func compileCertUsers(rules []CertUser) ([]certRule, error) {
	out := make([]certRule, 0, len(rules))
	for i, r := range rules {
		field, value, ok := strings.Cut(r.Match, ":")
		switch {
		case !ok || value == "":
			return nil, fmt.Errorf("tls.cert_users[%d].match: %q: want cn:NAME, dns:NAME, email:ADDR or uri:URI", i, r.Match)
		case field != "cn" && field != "dns" && field != "email" && field != "uri":
			return nil, fmt.Errorf("tls.cert_users[%d].match: unknown field %q: want cn, dns, email or uri", i, field)
		case r.User == "":
			return nil, fmt.Errorf("tls.cert_users[%d].user: required", i)
		}
		out = append(out, certRule{field: field, value: value, user: r.User})
	}
	return out, nil
}

// userFromRules returns the UserFromCert function of rules.
func userFromRules(rules []certRule) func(*x509.Certificate) (string, bool) {
	return func(c *x509.Certificate) (string, bool) {
		for _, r := range rules {
			if r.matches(c) {
				return r.user, true
			}
		}
		return "", false
	}
}

func (r certRule) matches(c *x509.Certificate) bool {
	switch r.field {
	case "cn":
		return c.Subject.CommonName == r.value
	case "dns":
		for _, n := range c.DNSNames {
			if strings.EqualFold(n, r.value) {
				return true
			}
		}
	case "email":
		for _, e := range c.EmailAddresses {
			if e == r.value {
				return true
			}
		}
	case "uri":
		for _, u := range c.URIs {
			if u.String() == r.value {
				return true
			}
		}
	}
	return false
}
