package edge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/internal/tlsconf"
)

// CertState describes the certificate a TLS listener serves, for the admin
// endpoints.
type CertState struct {
	Subject  string    // of the leaf served
	Serial   string    // hexadecimal
	NotAfter time.Time // of the leaf served
	LoadedAt time.Time // when the pair served was read
	// Reloads counts successful reloads since New (the first load is not
	// one); ReloadErrors counts changes that could not be loaded.
	Reloads, ReloadErrors uint64
	// LastError is why the files on disk are not being served ("" when
	// they are), and LastErrorAt when that was found.
	LastError   string
	LastErrorAt time.Time
}

// certStore owns a TLS listener's certificate, key and client CA bundle.
// Handshakes on any goroutine read the current generation with one atomic
// load; the watcher goroutine (or ReloadCertificates) builds a new one and
// stores it, so a handshake in progress keeps the config it started with.
type certStore struct {
	o          TLSOptions
	clientAuth tls.ClientAuthType
	minVersion uint16
	userOf     func(*x509.Certificate) (string, bool)
	log        *slog.Logger

	cur  atomic.Pointer[tls.Config]
	base *tls.Config // what tls.Server gets: GetConfigForClient returns cur

	mu     sync.Mutex // serialises loads; guards stamps and state
	stamps [3]tlsconf.FileStamp
	state  CertState

	stop chan struct{}
	done chan struct{}
}

func newCertStore(o TLSOptions, log *slog.Logger) (*certStore, error) {
	s := &certStore{o: o, log: log}
	switch {
	case o.CertFile == "":
		return nil, errors.New("tls.cert_file: required")
	case o.KeyFile == "":
		return nil, errors.New("tls.key_file: required")
	}
	switch o.ClientAuth {
	case "", "none":
		s.clientAuth = tls.NoClientCert
		if o.ClientCAFile != "" {
			return nil, errors.New("tls.client_ca_file: set but client_auth is none (use request or require)")
		}
		if len(o.CertUsers) > 0 || o.UserFromCert != nil {
			return nil, errors.New("tls.cert_users: client certificates are not requested (set client_auth to request or require)")
		}
	case "request":
		s.clientAuth = tls.VerifyClientCertIfGiven
	case "require":
		s.clientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("tls.client_auth: unknown value %q: want none, request or require", o.ClientAuth)
	}
	if s.clientAuth != tls.NoClientCert && o.ClientCAFile == "" {
		return nil, fmt.Errorf("tls.client_ca_file: required with client_auth %s", o.ClientAuth)
	}
	var err error
	if s.minVersion, err = tlsconf.CheckVersion(o.MinVersion); err != nil {
		return nil, fmt.Errorf("tls.min_version: %w", err)
	}
	switch {
	case len(o.CertUsers) > 0 && o.UserFromCert != nil:
		return nil, errors.New("tls.cert_users: set together with UserFromCert (use one)")
	case o.UserFromCert != nil:
		s.userOf = o.UserFromCert
	case len(o.CertUsers) > 0:
		rules, err := compileCertUsers(o.CertUsers)
		if err != nil {
			return nil, err
		}
		s.userOf = userFromRules(rules)
	}
	if s.o.ReloadInterval == 0 {
		s.o.ReloadInterval = DefaultReloadInterval
	}

	s.stamps = s.stat()
	cfg, leaf, err := s.load()
	if err != nil {
		return nil, err
	}
	if why, bad := tlsconf.Expired(leaf, time.Now()); bad {
		log.Warn("listener certificate is not valid now; clients will refuse it",
			"cert_file", o.CertFile, "reason", why)
	}
	s.install(cfg, leaf)
	s.base = &tls.Config{
		MinVersion: s.minVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load(), nil
		},
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	if s.o.ReloadInterval > 0 {
		go s.watch()
	} else {
		close(s.done)
	}
	return s, nil
}

func (s *certStore) files() [3]string {
	return [3]string{s.o.CertFile, s.o.KeyFile, s.o.ClientCAFile}
}

func (s *certStore) stat() [3]tlsconf.FileStamp {
	var st [3]tlsconf.FileStamp
	for i, f := range s.files() {
		if f != "" {
			st[i], _ = tlsconf.StampFile(f)
		}
	}
	return st
}

// load reads the files and builds the config of a new generation. Errors
// name the field.
func (s *certStore) load() (*tls.Config, *x509.Certificate, error) {
	pair, err := tlsconf.LoadKeyPair(s.o.CertFile, s.o.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls.cert_file: %w", err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   s.clientAuth,
		MinVersion:   s.minVersion,
	}
	if s.o.ClientCAFile != "" {
		if cfg.ClientCAs, err = tlsconf.LoadCertPool(s.o.ClientCAFile); err != nil {
			return nil, nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
	}
	return cfg, pair.Leaf, nil
}

func (s *certStore) install(cfg *tls.Config, leaf *x509.Certificate) {
	s.cur.Store(cfg)
	s.state.Subject = leaf.Subject.String()
	s.state.Serial = leaf.SerialNumber.Text(16)
	s.state.NotAfter = leaf.NotAfter
	s.state.LoadedAt = time.Now()
	s.state.LastError, s.state.LastErrorAt = "", time.Time{}
}

// reload loads the files now. A pair that does not load, or whose leaf is
// outside its validity period, is refused and the current one kept.
func (s *certStore) reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stamps = s.stat()
	cfg, leaf, err := s.load()
	if err == nil {
		if why, bad := tlsconf.Expired(leaf, time.Now()); bad {
			err = fmt.Errorf("tls.cert_file: new certificate %s", why)
		}
	}
	if err != nil {
		s.state.ReloadErrors++
		s.state.LastError, s.state.LastErrorAt = err.Error(), time.Now()
		s.log.Error("listener certificate changed but cannot be loaded; keeping the previous one",
			"err", err, "serving_serial", s.state.Serial)
		return err
	}
	s.install(cfg, leaf)
	s.state.Reloads++
	s.log.Info("listener certificate reloaded", "cert_file", s.o.CertFile,
		"subject", s.state.Subject, "serial", s.state.Serial, "not_after", leaf.NotAfter.UTC())
	return nil
}

// watch polls the files' stamps every ReloadInterval and reloads on a
// change. Polling, not inotify: a Kubernetes Secret volume changes by
// swapping the ..data symlink, which stat through the path sees directly,
// while inotify would have to watch the directory and follow the swap.
func (s *certStore) watch() {
	defer close(s.done)
	t := time.NewTicker(s.o.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		now := s.stat()
		changed := !sameStamps(now, s.stamps)
		s.mu.Unlock()
		if changed {
			_ = s.reload()
		}
	}
}

func sameStamps(a, b [3]tlsconf.FileStamp) bool {
	for i := range a {
		if !a[i].Same(b[i]) {
			return false
		}
	}
	return true
}

func (s *certStore) snapshot() CertState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *certStore) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}
