package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vbproxy/vbproxy/admin"
	"github.com/vbproxy/vbproxy/proxy"
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
	next.Listeners = append([]ListenerConfig(nil), a.applied.Listeners...)
	nextSec.users = append([]map[string]string(nil), a.appliedSec.users...)
	applied, restart := map[string]bool{}, map[string]bool{}
	usersChanged := map[int]bool{}
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
		case liveLimit(path):
			next.Limits, next.Log.SlowRequest, next.Log.SlowRequestKeys = cfg.Limits, cfg.Log.SlowRequest, cfg.Log.SlowRequestKeys
			applied[path] = true
		case listenerUsers(path) >= 0 && sameListener(&a.applied, cfg, listenerUsers(path)):
			i := listenerUsers(path)
			next.Listeners[i].Users = cfg.Listeners[i].Users
			usersChanged[i] = true
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
			if sameListener(&a.applied, cfg, i) {
				usersChanged[i] = true // a password file's new contents
			} else {
				restart[fmt.Sprintf("listeners[%d].users", i)] = true
			}
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
	for i := range usersChanged {
		for _, l := range a.lis {
			if l.idx != i {
				continue
			}
			if err := l.b.srv.SetUsers(l.pl.Name, sec.users[i]); err != nil {
				change.Failed = append(change.Failed, admin.FieldProblem{Field: fmt.Sprintf("listeners[%d].users", i), Error: err.Error()})
				continue
			}
			nextSec.users[i] = sec.users[i]
			applied[fmt.Sprintf("listeners[%d].users", i)] = true
		}
	}
	if liveChanged(applied) {
		lv := proxy.Live{
			MaxConns: next.Limits.MaxConnections, IdleTimeout: time.Duration(next.Limits.IdleTimeout),
			MaxRequestSize: next.Limits.MaxRequestSize, SlowRequest: time.Duration(next.Log.SlowRequest),
			SlowRequestKeys: next.Log.SlowRequestKeys,
		}
		for _, b := range a.buckets {
			if err := b.srv.Reconfigure(lv); err != nil {
				change.Failed = append(change.Failed, admin.FieldProblem{Field: "limits", Error: err.Error()})
			}
			b.slow.SetKeys(next.Log.SlowRequestKeys)
		}
	}
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

// liveLimits are the settings a running proxy changes (proxy.Reconfigure).
var liveLimits = []string{"limits.max_connections", "limits.idle_timeout", "limits.max_request_size", "log.slow_request", "log.slow_request_keys"}

func liveLimit(path string) bool {
	for _, p := range liveLimits {
		if path == p {
			return true
		}
	}
	return false
}

// liveChanged reports whether a live limit was applied.
func liveChanged(applied map[string]bool) bool {
	for _, p := range liveLimits {
		if applied[p] {
			return true
		}
	}
	return false
}

// listenerUsers returns i when path is under listeners[i].users, else -1.
func listenerUsers(path string) int {
	var i int
	var rest string
	if n, _ := fmt.Sscanf(path, "listeners[%d]%s", &i, &rest); n == 2 && (rest == ".users" || strings.HasPrefix(rest, ".users[") || strings.HasPrefix(rest, ".users.")) {
		return i
	}
	return -1
}

// sameListener reports whether listener i keeps its address and bucket
// from old to cfg: then its users may change without a restart.
func sameListener(old, cfg *Config, i int) bool {
	return i < len(old.Listeners) && i < len(cfg.Listeners) &&
		old.Listeners[i].Address == cfg.Listeners[i].Address && old.Listeners[i].Bucket == cfg.Listeners[i].Bucket
}
