package tlsconf

import (
	"os"
	"time"
)

// FileStamp identifies one version of a file as seen through its symlinks,
// so that a poller can tell that a certificate changed without reading it.
// Kubernetes mounts a Secret as NAME -> ..data/NAME with ..data a symlink
// to a timestamped directory that is swapped atomically on update: the
// path stays, the file it resolves to is new (another inode), so Stat
// through the link sees the change. An in-place rewrite changes the
// modification time or the size.
type FileStamp struct {
	info os.FileInfo
}

// StampFile stats path, following symlinks.
func StampFile(path string) (FileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileStamp{}, err
	}
	return FileStamp{info: fi}, nil
}

// Same reports whether s and o are the same version of the same file. The
// zero FileStamp (never stamped, or the file was missing) is the same only
// as another zero FileStamp.
func (s FileStamp) Same(o FileStamp) bool {
	if s.info == nil || o.info == nil {
		return s.info == nil && o.info == nil
	}
	return os.SameFile(s.info, o.info) && s.info.Size() == o.info.Size() &&
		s.info.ModTime().Equal(o.info.ModTime())
}

// ModTime is the file's modification time (zero for the zero FileStamp).
func (s FileStamp) ModTime() time.Time {
	if s.info == nil {
		return time.Time{}
	}
	return s.info.ModTime()
}
