package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/vbproxy/vbproxy/admin"
)

// A config reload (SIGHUP, POST /reload?config=1) re-reads the file given
// with -config, with the same flags on top, and validates it as at start.
// If it does not validate, nothing changes and the answer names every bad
// field. Otherwise the settings that can change without dropping a
// connection are applied, and every other changed setting is reported as
// needing a restart and keeps its running value:
//
//	applied live:     log.level, admin.token_file (and the token in it),
//	                  admin.tls.cert_file/key_file (and the pair in them, when
//	                  TLS was on at start), shutdown.drain_timeout, and the
//	                  contents of each TLS listener's certificate files
//	                  (re-read on every reload: "listeners[i].tls" when a
//	                  new certificate is in service since the last reload;
//	                  files that do not load fail the validation, and if
//	                  they break between the validation and the re-read
//	                  they are listed under "failed"; either way the old
//	                  certificate keeps serving)
//	restart required: everything else that changed, such as listeners
//	                  (addresses, buckets, users), cluster, upstream, limits,
//	                  log.format, log.slow_request, admin.address, admin.pprof
//
// Client users, limits and the slow-request settings move to "applied" once
// the proxy can change them on a running listener (proxy.Server.Reconfigure).

// reloadConfigHTTP serves POST /reload?config=1.
func (a *app) reloadConfigHTTP(ctx context.Context) (admin.ConfigChange, error) {
	return a.reloadConfig("POST /reload?config=1")
}

// reloadConfig re-reads and applies the config file; trigger names the
// request for the log and the console's events.
func (a *app) reloadConfig(trigger string) (admin.ConfigChange, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	change := admin.ConfigChange{File: a.configFile, Applied: []string{}, RestartRequired: []string{}}
	if a.load == nil {
		err := &admin.ConfigInvalidError{Fields: []admin.FieldProblem{{Field: "config",
			Error: "vbproxy was started without -config: there is no file to re-read"}}}
		a.reloadFailed(trigger, err)
		return change, err
	}
	cfg, sec, errs := a.load()
	if len(errs) > 0 {
		err := &admin.ConfigInvalidError{File: a.configFile}
		for _, e := range errs {
			err.Fields = append(err.Fields, admin.FieldProblem{Field: e.Field, Error: e.Msg})
		}
		a.reloadFailed(trigger, err)
		return change, err
	}

	next, nextSec := a.applied, a.appliedSec
	applied, restart := map[string]bool{}, map[string]bool{}
	tlsOn := a.adminCert.Load() != nil
	for _, path := range configDiff(&a.applied, cfg) {
		switch {
		case path == "log.level" && a.level != nil:
			next.Log.Level = cfg.Log.Level
			applied[path] = true
		case path == "admin.token_file" && a.admin != nil:
			next.Admin.TokenFile = cfg.Admin.TokenFile
			applied[path] = true
		case under(path, "admin.tls") && tlsOn && sec.adminCert != nil:
			next.Admin.TLS = cfg.Admin.TLS
			applied[path] = true
		case path == "shutdown.drain_timeout":
			next.Shutdown.DrainTimeout = cfg.Shutdown.DrainTimeout
			applied[path] = true
		default:
			restart[reportPath(path)] = true
		}
	}
	// The same files with new contents: a rotated token or certificate.
	if a.admin != nil && sec.adminToken != a.appliedSec.adminToken {
		applied["admin.token_file"] = true
	}
	if tlsOn && sec.adminCert != nil && !sameCert(sec.adminCert, a.appliedSec.adminCert) {
		applied["admin.tls"] = true
	}
	for i := range min(len(sec.users), len(a.appliedSec.users)) {
		if !mapsEqual(sec.users[i], a.appliedSec.users[i]) {
			restart[fmt.Sprintf("listeners[%d].users", i)] = true
		}
	}
	// The running listeners' certificate files, re-read in place: a
	// certificate in service since the last reload (this re-read or the
	// watcher's) is applied.
	for _, c := range a.reloadCertificates(a.lis, trigger) {
		if c.err != nil {
			fe := fieldOf(fmt.Sprintf("listeners[%d]", c.l.idx), c.err)
			change.Failed = append(change.Failed, admin.FieldProblem{Field: fe.Field, Error: fe.Msg})
		}
		if c.serial != c.l.reloadedSerial {
			applied[fmt.Sprintf("listeners[%d].tls", c.l.idx)] = true
			c.l.reloadedSerial = c.serial
		}
	}

	// Apply: none of these can fail.
	if applied["log.level"] {
		lv, _ := logLevel(next.Log.Level) // validated
		a.level.Set(lv)
	}
	if applied["admin.token_file"] {
		a.admin.SetToken(sec.adminToken)
		nextSec.adminToken = sec.adminToken
	}
	if tlsOn && sec.adminCert != nil {
		a.adminCert.Store(sec.adminCert)
		nextSec.adminCert = sec.adminCert
	}
	a.drain.Store(int64(next.Shutdown.DrainTimeout))
	a.applied, a.appliedSec = next, nextSec

	change.Applied, change.RestartRequired = sortedKeys(applied), sortedKeys(restart)
	a.log.Info("config reloaded", "trigger", trigger, "file", a.configFile,
		"applied", change.Applied, "restart_required", change.RestartRequired, "failed", len(change.Failed))
	if a.admin != nil {
		a.admin.RecordEvent("", admin.EventConfig, describeReload(trigger, change))
	}
	return change, nil
}

func (a *app) reloadFailed(trigger string, err error) {
	a.log.Warn("config reload failed: nothing changed", "trigger", trigger, "err", err)
	if a.admin != nil {
		a.admin.RecordEvent("", admin.EventConfig, trigger+": "+err.Error())
	}
}

func describeReload(trigger string, c admin.ConfigChange) string {
	var parts []string
	if len(c.Applied) > 0 {
		parts = append(parts, "applied "+strings.Join(c.Applied, ", "))
	}
	if len(c.RestartRequired) > 0 {
		parts = append(parts, "restart needed for "+strings.Join(c.RestartRequired, ", "))
	}
	for _, f := range c.Failed {
		parts = append(parts, "not applied "+f.Field+": "+f.Error)
	}
	if len(parts) == 0 {
		parts = append(parts, "no change")
	}
	return trigger + ": config reloaded: " + strings.Join(parts, "; ")
}

// userPath matches a path inside one listener's users list.
var userPath = regexp.MustCompile(`^(listeners\[\d+\]\.users)[.\[]`)

// reportPath shortens a path for the reload's answer: any change inside a
// listener's users is "listeners[i].users".
func reportPath(p string) string {
	if m := userPath.FindStringSubmatch(p); m != nil {
		return m[1]
	}
	return p
}

func sameCert(a, b *tls.Certificate) bool {
	if a == nil || b == nil {
		return a == b
	}
	return slices.EqualFunc(a.Certificate, b.Certificate, bytes.Equal)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
