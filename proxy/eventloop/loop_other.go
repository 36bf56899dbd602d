//go:build !linux

package eventloop

// vbproxy's data path is built on Linux epoll and has no portable fallback
// (docs/design.md, "Event loops"). Building for another system stops here,
// with this name in the compiler's error.
var _ = vbproxy_needs_Linux_epoll_see_docs_design_md
