package vbmap

import "strconv"

// Revision orders configs: a config is newer when its Epoch is higher, or the
// epochs are equal and its Rev is higher. Epoch is the config's revEpoch (0
// when absent), Rev its rev.
type Revision struct {
	Epoch, Rev int64
}

// Newer reports whether r is strictly newer than than.
func (r Revision) Newer(than Revision) bool {
	if r.Epoch != than.Epoch {
		return r.Epoch > than.Epoch
	}
	return r.Rev > than.Rev
}

// String formats r as "epoch/rev", e.g. "1/1073".
func (r Revision) String() string {
	b := make([]byte, 0, 24)
	b = strconv.AppendInt(b, r.Epoch, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, r.Rev, 10)
	return string(b)
}
